"""The lmgauge command: one line on stderr and exit status 2 for every user error."""

from lmgauge.cli import main
from lmgauge.report import write_atomic
from tests.test_report import sample_document


def test_show_prints_results(tmp_path, capsys):
    path = write_atomic(sample_document(), tmp_path / "r.json")
    assert main(["show", str(path)]) == 0
    output = capsys.readouterr().out
    assert "parameters_total" in output and "124439808" in output


def test_show_broken_report_is_one_line(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text('{"format": "lmgauge-run-report", "schema_version": 1, "resu')
    assert main(["show", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lmgauge: ") and "not valid JSON" in error
    assert error.count("\n") == 1


def test_assets_unknown_name_lists_assets_and_models(capsys, cache):
    assert main(["assets", "nothing"]) == 2
    error = capsys.readouterr().err
    assert "'nothing' is neither an asset" in error and "smollm2-135m" in error


def test_assets_list_on_an_empty_cache(capsys, cache):
    assert main(["assets", "--list"]) == 0
    output = capsys.readouterr().out
    assert str(cache) in output and output.count("missing") == 3


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    output = capsys.readouterr().out
    assert "gpt2-medium" in output and "354,823,168" in output and "synthetic" in output
