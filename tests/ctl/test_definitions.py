"""Definitions over amqpctl: export to a file or stdout, import from a file or stdin, and
rabbitmqctl's codes for a missing file or bad JSON (65)."""

from __future__ import annotations

import json

from tests.ctl.conftest import Ctl, amqpctl


def test_export_then_import_into_the_same_broker(ctl: Ctl, tmp_path):
    ctl("add_vhost", "exported")
    ctl("add_user", "eve", "pw")
    ctl("set_permissions", "-p", "exported", "eve", ".*", ".*", ".*")
    path = tmp_path / "defs.json"
    ran = ctl("export_definitions", str(path))
    assert ran.stdout == f'Exporting definitions in JSON to a file at "{path}" ...\n'
    definitions = json.loads(path.read_text())
    assert {"name": "exported"} in definitions["vhosts"]
    assert [p["user"] for p in definitions["permissions"] if p["vhost"] == "exported"] == ["eve"]
    ctl("delete_user", "eve")
    imported = ctl("import_definitions", str(path))
    assert imported.code == 0, imported.stderr
    assert imported.lines == [f'Importing definitions in JSON from a file at "{path}" ...',
                              "Successfully started definition import. This process is asynchronous and can take "
                              "some time."]
    assert ctl("-s", "list_user_permissions", "eve").lines == ["exported\t.*\t.*\t.*"]


def test_export_to_stdout_and_import_from_stdin(ctl: Ctl):
    exported = ctl("export_definitions", "-")
    assert exported.code == 0
    assert not exported.stdout.endswith("\n")
    assert json.loads(exported.stdout)["users"][0]["name"] == "guest"
    imported = ctl("-q", "import_definitions", "-", stdin='{"vhosts": [{"name": "from-stdin"}]}')
    assert (imported.code, imported.stdout) == (0, "")
    assert "from-stdin" in ctl("-s", "list_vhosts").lines


def test_a_missing_file_and_bad_json_are_65(ctl: Ctl, tmp_path):
    missing = ctl("import_definitions", str(tmp_path / "none.json"))
    assert missing.code == 65
    assert missing.stderr == f"Error (argument validation): Bad argument: File {tmp_path}/none.json does not exist\n"
    no_broker = amqpctl("--data-dir", str(tmp_path), "import_definitions", str(tmp_path / "none.json"))
    assert no_broker.code == 65  # the argument is checked before the broker is reached
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    ran = ctl("import_definitions", str(bad))
    assert ran.code == 65
    assert ran.stderr.startswith("Error:\nFailed to deserialise input (format: JSON)")
