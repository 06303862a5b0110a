"""Expected failures, each carrying words a person can act on.

They become a Slack message only at the edge (`bot/`); anything else that goes wrong is
logged with its traceback and the person gets a short apology with a reference id.
"""


class CommandError(Exception):
    "A request that cannot go ahead as typed; the message says what to type instead"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(CommandError):
    "The person asking may not do this"


class IamError(CommandError):
    "AWS refused or failed a call; the message says which and why in plain words"
