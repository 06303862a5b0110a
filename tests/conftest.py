import logging

import pytest
import requests
from moto.server import ThreadedMotoServer

from tests.support.fake_slack import FakeSlack
from tests.support.harness import Bot, iam_client
from tests.support.postgres import PostgresMissing, PostgresServer


@pytest.fixture(scope="session")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server on 127.0.0.1 for the whole session (installed first if missing)."""
    try:
        server = PostgresServer().start()
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a fresh, empty PostgreSQL database."""
    return postgres_server.create_database()


@pytest.fixture
def aws(moto_url):
    """A fresh moto account with two groups."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    client = iam_client(moto_url)
    for group in ("Developers", "ReadOnly"):
        client.create_group(GroupName=group)
    return client


@pytest.fixture
def slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def make_bot(tmp_path, slack, moto_url, aws):
    bots = []

    def make(**kwargs):
        bot = Bot(tmp_path, slack, moto_url, **kwargs)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.stop()
    # Whatever a test drove the bot to do, its own IAM policy must have allowed it.
    from commands.policy import allowed_operations, bot_policy

    for bot in bots:
        missing = bot.called - allowed_operations(bot_policy(bot.settings.iam_bot_user_path))
        assert not missing, f"the bot called {sorted(missing)}, which its IAM policy does not allow"


@pytest.fixture
def bot(make_bot):
    return make_bot()
