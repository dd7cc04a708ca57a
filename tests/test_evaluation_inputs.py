"""Bad input to ``python -m verl_mupo.evaluation`` and to the validation records: sample keys that are
not verl's (they could merge prompts or samples), an empty ``data_source``, records with impossible
sampling settings, flags out of range. Each stops with one line naming the file:line, the record or
the flag, exit code 2, no traceback; verl's own keys (prompt uids with underscores included) count
as verl counts them."""

import contextlib
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from verl_mupo.evaluation import (EvaluationError, Sampling, dump_counts, evaluate, main, read_record, record_path,
                                  sample_key, split_uid, write_record)


def _dump(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(uid, acc, data_source="MMStar"):
    return {"input": "q", "output": "...", "score": acc, "acc": acc, "data_source": data_source, "uid": uid}


def _cli(*args):
    """The command in this process: exit code and stderr (any exception but the handled errors propagates,
    failing the test, as a traceback would)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def _python_m(*args):
    """The command as a user runs it."""
    out = subprocess.run([sys.executable, "-m", "verl_mupo.evaluation", *map(str, args)], capture_output=True,
                         text=True, timeout=120)
    return out.returncode, out.stderr


def _one_line_error(code, err, *needles):
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


# ---------------------------------------------------------------------------------------------- sample keys


def test_sample_key_follows_verls_split_at_the_last_two_underscores():
    # verl 0.9.1: keys f"{uid}_{session_id}_{i}" (agent_loop_tq.py), split by key.rsplit("_", 2) (trainer_base.py)
    assert sample_key("3f2a-9c_0_0") == ("3f2a-9c", "3f2a-9c_0", 0)
    assert sample_key("geo_3_12_1") == ("geo_3", "geo_3_12", 1)  # a prompt uid with underscores stays whole
    assert sample_key("a__7_0") == ("a_", "a__7", 0)
    assert split_uid("a_b_3_1") == ("a_b", "a_b_3")
    for bad in ("plain", "p_0", "p_x_0", "p_0_x", "_0_0", "p_0_0 ", "p_-1_0", "p_\u0663_0", "", "p_0_0\n"):
        with pytest.raises(ValueError, match="sample key"):
            sample_key(bad)
        with pytest.raises(ValueError):
            split_uid(bad, strict=True)
        assert split_uid(bad) == (bad, bad)  # the fallback: its own prompt and session, never joined to another key


def test_prompt_uids_with_underscores_are_separate_prompts(tmp_path):
    # prompt "a_1" (4 samples) and prompt "a" (sessions 1 and 2): rsplit keeps them apart
    rows = [_row(f"a_1_{s}_0", a) for s, a in enumerate([1, 0, 0, 0])] + [_row("a_1_0", 1), _row("a_2_0", 1)]
    counts = dump_counts(_dump(tmp_path / "1.jsonl", rows))
    assert counts == {"MMStar": {"a_1": [4, 1], "a": [2, 2]}}


def test_the_last_output_of_a_session_counts_whatever_the_line_order(tmp_path):
    rows = [_row("u_0_1", 1), _row("u_0_0", 0), _row("u_1_0", 0)]  # output 1 is the session's last
    assert dump_counts(_dump(tmp_path / "1.jsonl", rows)) == {"MMStar": {"u": [2, 1]}}


def test_keys_without_the_session_suffix_are_an_error_not_one_sample(tmp_path):
    # the same bare prompt uid on 4 sample rows (a dump whose uid is the prompt's): counted as one sample of
    # 4 before, acc@1 0.0 from the last row instead of 0.25, silently
    rows = [_row("p1", a) for a in (1, 0, 0, 0)]
    path = _dump(tmp_path / "1.jsonl", rows)
    with pytest.raises(EvaluationError, match=r"1\.jsonl:1: uid 'p1' is not verl's sample key"):
        dump_counts(path)
    _one_line_error(*_python_m(path), "1.jsonl:1:", "'p1'", "<prompt uid>_<session>_<index>")


def test_a_key_seen_twice_is_an_error(tmp_path):
    # two dumps pasted together: the second copy would replace the first silently
    rows = [_row("u_0_0", 1), _row("u_1_0", 0), _row("u_0_0", 0)]
    _one_line_error(*_cli(_dump(tmp_path / "1.jsonl", rows)), "1.jsonl:3:", "'u_0_0'", "line 1")


# ---------------------------------------------------------------------------------------------- data_source


@pytest.mark.parametrize("source", ["", "   ", "\t", 7, ["MMStar"]])
def test_an_empty_or_non_text_data_source_is_an_error(tmp_path, source):
    rows = [_row("p_0_0", 1), _row("q_0_0", 0, data_source=source)]
    path = _dump(tmp_path / "1.jsonl", rows)
    with pytest.raises(EvaluationError, match=r"1\.jsonl:2: data_source="):
        dump_counts(path)
    _one_line_error(*_cli(path), "1.jsonl:2:", "data_source=")


# ---------------------------------------------------------------------------------------------- records

BAD_SAMPLING = [
    ({"n": 4, "temperature": -1.0}, "temperature=-1.0"),
    ({"n": 4, "temperature": float("nan")}, "temperature=nan"),
    ({"n": 4, "temperature": float("inf")}, "temperature=inf"),
    ({"n": 4, "temperature": "hot"}, "temperature='hot'"),
    ({"n": 4, "temperature": "1.0"}, "temperature='1.0'"),
    ({"n": 0, "temperature": 1.0}, "n=0"),
    ({"n": -2, "temperature": 1.0}, "n=-2"),
    ({"n": 2.5, "temperature": 1.0}, "n=2.5"),
    ({"n": True, "temperature": 1.0}, "n=True"),
    ({"n": 4, "temperature": 1.0, "top_p": 0.0}, "top_p=0.0"),
    ({"n": 4, "temperature": 1.0, "top_p": 1.5}, "top_p=1.5"),
    ({"n": 4, "temperature": 1.0, "top_k": -2}, "top_k=-2"),
    ({"n": 4, "temperature": 1.0, "do_sample": "no"}, "do_sample='no'"),
]


@pytest.mark.parametrize("sampling,needle", BAD_SAMPLING)
def test_sampling_is_validated_at_construction(sampling, needle):
    with pytest.raises(EvaluationError, match=f"sampling {needle.split('=')[0]}="):
        Sampling(**sampling)


@pytest.mark.parametrize("sampling,needle", BAD_SAMPLING)
def test_a_record_with_bad_sampling_is_a_one_line_error_naming_the_file(tmp_path, sampling, needle):
    _dump(tmp_path / "5.jsonl", [_row("p_0_0", 1)])
    record_path(tmp_path, 5).write_text(json.dumps({"step": 5, "sampling": sampling, "metrics": {}}))  # NaN: json's NaN
    with pytest.raises(EvaluationError, match=r"5\.val-mupo\.json: sampling "):
        read_record(tmp_path, 5)
    _one_line_error(*(_python_m if needle == "temperature='hot'" else _cli)(tmp_path), "5.val-mupo.json", needle)


@pytest.mark.parametrize("text", ["[1, 2]", '{"step": 5}', '{"sampling": [4, 1.0]}', '{"sampling": {"n": 4}}',
                                  '{"sampling": {"n": 4, "temperature": 1, "beam": 2}}', "{not json", "\udcff"])
def test_a_record_that_is_not_one_is_a_one_line_error(tmp_path, text):
    _dump(tmp_path / "5.jsonl", [_row("p_0_0", 1)])
    record_path(tmp_path, 5).write_bytes(text.encode("utf-8", "surrogateescape"))
    _one_line_error(*_cli(tmp_path), "5.val-mupo.json")


def test_write_record_refuses_bad_sampling_and_round_trips_good(tmp_path):
    with pytest.raises(EvaluationError, match="temperature"):
        write_record(tmp_path, 1, Sampling(n=4, temperature=-0.5), {})
    assert not record_path(tmp_path, 1).exists()
    s = Sampling(n=np.int64(4), temperature=np.float32(0.7), top_p=1, top_k=0, do_sample=np.bool_(True))
    write_record(tmp_path, 1, s, {"val-mupo/MMStar/acc@1": 0.5})
    back = read_record(tmp_path, 1)["sampling"]
    assert back == s and type(back.n) is int and type(back.do_sample) is bool
    assert math.isclose(back.temperature, 0.7, rel_tol=1e-6) and not back.greedy
    assert Sampling(n=1, temperature=0).greedy


# ---------------------------------------------------------------------------------------------- flags


@pytest.mark.parametrize("args,needle", [(["-k", "0"], "-k 0: k must be >= 1"), (["-k", "1", "-3"], "-k -3"),
                                         (["--step", "-1"], "--step -1: a validation step is an integer >= 0")])
def test_flags_out_of_range_are_one_line_errors(tmp_path, args, needle):
    _dump(tmp_path / "0.jsonl", [_row("p_0_0", 1)])
    _one_line_error(*_cli(tmp_path, *args), needle)


def test_a_repeated_k_is_one_column(tmp_path, capsys):
    rows = [_row(f"p_{s}_0", a) for s, a in enumerate([1, 0, 0, 0])]
    _dump(tmp_path / "0.jsonl", rows)
    assert main([str(tmp_path), "-k", "1", "1", "4"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.split() == ["benchmark", "acc@1", "acc@4", "prompts", "n"]
    results = {r.name: r for r in evaluate(dump_counts(tmp_path / "0.jsonl"), ks=(1, 4))}
    assert results["MMStar"].acc == {1: 0.25, 4: 1.0}
