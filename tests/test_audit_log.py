"""The live audit stream's sinks (bot/audit_log.py): a private file that follows logrotate, a
line cut short ended before the repeat, standard output one line per write; and the duty."""

import datetime as dt
import json
import os
import stat

from bot.audit_log import AUDIT_LOG_DUTY, FileSink, StdoutSink


def test_a_file_is_created_private_and_appended_to(tmp_path):
    path = tmp_path / "audit.jsonl"
    old = os.umask(0)
    try:
        FileSink(str(path)).write(b'{"id":1}\n')
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sink = FileSink(str(path))
    sink.write(b'{"id":2}\n')
    assert path.read_bytes() == b'{"id":1}\n{"id":2}\n'


def test_a_file_moved_by_logrotate_is_reopened(tmp_path):
    path = tmp_path / "audit.jsonl"
    sink = FileSink(str(path))
    sink.write(b'{"id":1}\n')
    os.rename(path, tmp_path / "audit.jsonl.1")  # logrotate without copytruncate
    sink.write(b'{"id":2}\n')
    assert (tmp_path / "audit.jsonl.1").read_bytes() == b'{"id":1}\n'
    assert path.read_bytes() == b'{"id":2}\n'
    path.unlink()  # deleted outright
    sink.write(b'{"id":3}\n')
    assert path.read_bytes() == b'{"id":3}\n'


def test_a_line_cut_short_is_ended_before_anything_is_appended(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"id":1}\n{"id":2,"ti')  # the machine died mid-write
    FileSink(str(path)).write(b'{"id":2}\n')
    assert path.read_bytes().splitlines() == [b'{"id":1}', b'{"id":2,"ti', b'{"id":2}']


def test_standard_output_gets_one_write_per_line(capfd):
    StdoutSink().write(b'{"id":1}\n{"id":2}\n')
    assert capfd.readouterr().out == '{"id":1}\n{"id":2}\n'


def test_the_duty_streams_what_the_bot_did(make_bot, tmp_path):
    path = tmp_path / "audit.jsonl"
    bot = make_bot(iam_bot_audit_log=str(path))
    bot.slash("U0ALICE", "create jane.doe Developers")
    bot.slash("U0CAROL", "status jane.doe")
    [duty] = [d for d in bot.built.duties if d.name == AUDIT_LOG_DUTY]
    assert duty.every == dt.timedelta(0)
    bot.run_duty(AUDIT_LOG_DUTY)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in bot.store.events()]
    assert [line["action"] for line in lines][:1] == ["filed"]
    assert lines[0]["user_name"] == "jane.doe" and lines[0]["actor"] == "U0ALICE"
    bot.run_duty(AUDIT_LOG_DUTY)
    assert len(path.read_text().splitlines()) == len(lines)


def test_without_the_setting_there_is_no_stream_duty(bot, tmp_path):
    bot.slash("U0ALICE", "create jane.doe Developers")
    assert AUDIT_LOG_DUTY not in [d.name for d in bot.built.duties]
    assert bot.store.stream_position(AUDIT_LOG_DUTY).id == 0
