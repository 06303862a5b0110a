"""The features the app is built from: one line each. Adding a kind of request is a domain module,
an edge module here, and its line in FEATURES (the order is the order of the duties)."""

from . import approvals, audit, create, groups, home, keys, mfa, offboard, requests, reviews

FEATURES = (
    requests.feature,  # what every kind shares: approve, deny, retry, reveal, withdraw, remind, expire
    create.feature,
    keys.feature,
    offboard.feature,
    groups.feature,  # /iam add and drop: group membership, time-bound grants and their revoker
    audit.feature,
    approvals.feature,  # /iam who-approves: the approval rules as they apply to the asker
    mfa.feature,
    reviews.feature,  # access reviews: campaigns, Keep / Remove, reminders, deadlines, evidence
    home.feature,  # the App Home: a person's users, requests and what waits for them; last, it reads the others' looks
)
