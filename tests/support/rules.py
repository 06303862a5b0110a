"""Approval rules files the tests share."""

# The file exactly as issue 19 shows it.
ISSUE_FILE = """
[defaults]
approvers = ["S0PLATFORM", "U0BOB"]   # user ids and user groups
approvals = 1                          # distinct approvers needed

[[group]]
name = "Admins"                        # an IAM group name, or a glob such as "Prod-*"
approvers = ["S0SECURITY"]
approvals = 2
standing = false                       # only time-bound membership (`--for`), never permanent
max_duration = "4h"

[[group]]
name = "ReadOnly"
max_duration = "30d"
auto_approve = { requesters = ["S0ENGINEERS"], max_duration = "8h", per_requester_per_day = 3 }

[[deny]]
groups = ["BillingAdmins", "OrganizationAdmins*"]
reason = "Ask in #security; not through chat."

[break_glass]
requesters = ["S0ONCALL"]
groups = ["Admins"]
max_duration = "1h"
review_within = "24h"
"""
