"""Hostile and damaged .skd files: every failure is a ModelFormatError, memory stays bounded.

The fuzz tests damage one small model file at every byte and every length: each damaged
file either loads and predicts exactly as the original, or raises ModelFormatError.
Nothing else (no RecursionError, MemoryError, struct.error, ...) may escape load().
"""

import io
import json
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from skdistill import DistilledClassifier, ModelFormatError, load, save
from skdistill._persist import _digest

X, Y = load_iris(return_X_y=True)


def _tiny(seed=0, labels=Y):
    return DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=200))], cv=2,
                               hidden_layer_sizes=(4,), max_epochs=2,
                               random_state=seed).fit(X, labels)


@pytest.fixture(scope="module")
def tiny():
    return _tiny()


@pytest.fixture(scope="module")
def tiny_file(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "tiny.skd"
    save(tiny, path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.pop("SHA256")
    return members


def _write(path, members, checksum=True, compression=zipfile.ZIP_DEFLATED):
    """Write members as a .skd zip, with a correct checksum unless told otherwise."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if checksum:
            zf.writestr("SHA256", _digest(members))
    return path


def _load_outcome(path, expected):
    """'ok' when the file loads and predicts exactly as ``expected``, 'refused' on
    ModelFormatError; any other exception or any other prediction fails the test."""
    try:
        model = load(path)
    except ModelFormatError:
        return "refused"
    np.testing.assert_array_equal(model.predict_proba(X[:20]), expected)
    return "ok"


# -- fuzzing -------------------------------------------------------------------------
def test_every_single_byte_flip(tiny, tiny_file, tmp_path):
    data = tiny_file.read_bytes()
    assert len(data) < 8000, "keep the fuzzed file small, or this test gets slow"
    expected = tiny.predict_proba(X[:20])
    bad = tmp_path / "flipped.skd"
    counts = {"ok": 0, "refused": 0}
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        bad.write_bytes(bytes(damaged))
        try:
            counts[_load_outcome(bad, expected)] += 1
        except Exception as exc:  # report the position that let something through
            raise AssertionError(f"flipping byte {i} of {len(data)}: {exc!r}") from exc
    # Flips in zip metadata that no reader uses (timestamps, attributes) load fine.
    assert counts["refused"] > len(data) // 2, counts
    print(f"\nbyte flips over {len(data)} bytes: {counts}")


def test_every_truncation(tiny, tiny_file, tmp_path):
    data = tiny_file.read_bytes()
    expected = tiny.predict_proba(X[:20])
    bad = tmp_path / "truncated.skd"
    counts = {"ok": 0, "refused": 0}
    for n in range(len(data)):
        bad.write_bytes(data[:n])
        try:
            counts[_load_outcome(bad, expected)] += 1
        except Exception as exc:
            raise AssertionError(f"truncating to {n} of {len(data)} bytes: {exc!r}") from exc
    assert counts == {"ok": 0, "refused": len(data)}, counts
    print(f"\ntruncations of {len(data)} bytes: {counts}")


def test_random_multi_byte_damage(tiny, tiny_file, tmp_path_factory):
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    data = tiny_file.read_bytes()
    expected = tiny.predict_proba(X[:20])
    bad = tmp_path_factory.mktemp("hypo") / "damaged.skd"

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 255)),
                               min_size=1, max_size=8))
    def check(edits):
        damaged = bytearray(data)
        for pos, xor in edits:
            damaged[pos] ^= xor
        bad.write_bytes(bytes(damaged))
        _load_outcome(bad, expected)

    check()


# -- hostile files ---------------------------------------------------------------------
def _bomb(path, member="arrays/2.weight.npy", size=200 * 2**20, declared=None):
    """A zip whose one big member is ``size`` zero bytes (~200 KB compressed)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("skdistill.json", b"{}")
        zf.writestr("SHA256", b"0" * 64)
        with zf.open(member, "w", force_zip64=False) as f:
            chunk = bytes(2**20)
            for _ in range(size // 2**20):
                f.write(chunk)
    if declared is not None:
        # Make the directory and the local header lie: a small declared size.
        raw = bytearray(path.read_bytes())
        true = size.to_bytes(4, "little")
        lie = declared.to_bytes(4, "little")
        assert raw.count(true) == 2
        path.write_bytes(bytes(raw).replace(true, lie))
    return path


def test_zip_bomb_is_refused_before_decompressing(tmp_path):
    with pytest.raises(ModelFormatError, match="declares 209715200 bytes"):
        load(_bomb(tmp_path / "bomb.skd"))
    # Under the size limits, but 1000x compressed: refused by its ratio.
    with pytest.raises(ModelFormatError, match="compression ratio"):
        load(_bomb(tmp_path / "dense.skd", size=8 * 2**20))
    # A member that lies about its size is read only up to what it declares.
    with pytest.raises(ModelFormatError):
        load(_bomb(tmp_path / "liar.skd", declared=1000))


def test_too_many_members(tiny_file, tmp_path):
    members = _members(tiny_file)
    members.update({f"extra/{i}": b"" for i in range(300)})
    with pytest.raises(ModelFormatError, match="members"):
        load(_write(tmp_path / "many.skd", members))


def test_other_compression_and_duplicates_are_refused(tiny_file, tmp_path):
    members = _members(tiny_file)
    with pytest.raises(ModelFormatError, match="compression method"):
        load(_write(tmp_path / "bz2.skd", members, compression=zipfile.ZIP_BZIP2))
    path = _write(tmp_path / "dup.skd", members)
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("skdistill.json", b"{}")
    with pytest.raises(ModelFormatError, match="same name"):
        load(path)


def _with_header(tiny_file, path, text):
    members = _members(tiny_file)
    members["skdistill.json"] = text.encode() if isinstance(text, str) else text
    return _write(path, members)


def test_huge_string_dtype_in_header(tiny_file, tmp_path):
    header = json.loads(_members(tiny_file)["skdistill.json"])
    header["fitted"]["classes_"] = {"__ndarray__": ["a", "b", "c"], "dtype": "<U100000000"}
    with pytest.raises(ModelFormatError, match="dtype '<U100000000'"):
        load(_with_header(tiny_file, tmp_path / "u.skd", json.dumps(header)))
    header["fitted"]["classes_"]["dtype"] = "<U2000"
    with pytest.raises(ModelFormatError, match="longer than 1024"):
        load(_with_header(tiny_file, tmp_path / "u2.skd", json.dumps(header)))
    for dtype in ("(1000000000,)f8", "V8", "O", "<U", "int", ["<f8"]):
        header["fitted"]["classes_"] = {"__ndarray__": [1, 2, 3], "dtype": dtype}
        with pytest.raises(ModelFormatError, match="dtype"):
            load(_with_header(tiny_file, tmp_path / "d.skd", json.dumps(header)))
    # Many short strings in a long fixed-width dtype: bounded by total bytes.
    header["fitted"]["classes_"] = {"__ndarray__": [""] * 100_000, "dtype": "<U1024"}
    with pytest.raises(ModelFormatError, match="over"):
        load(_with_header(tiny_file, tmp_path / "n.skd", json.dumps(header)))


def test_deeply_nested_header(tiny_file, tmp_path):
    header = _members(tiny_file)["skdistill.json"].decode()
    nested = header[:-1].rstrip() + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ModelFormatError, match="nests"):
        load(_with_header(tiny_file, tmp_path / "deep.skd", nested))
    # Brackets inside strings are not nesting.
    header_obj = json.loads(header)
    header_obj["metadata"] = {"text": "[" * 1000}
    assert load(_with_header(tiny_file, tmp_path / "s.skd", json.dumps(header_obj)),
                return_metadata=True)[1] == {"text": "[" * 1000}


def test_huge_integer_in_header(tiny_file, tmp_path):
    header = json.loads(_members(tiny_file)["skdistill.json"])
    text = json.dumps(header).replace('"n_iter_": 2', '"n_iter_": ' + "9" * 100_000)
    with pytest.raises(ModelFormatError, match="digits"):
        load(_with_header(tiny_file, tmp_path / "int.skd", text))
    header["fitted"]["classes_"] = {"__ndarray__": [10**25, 1, 2], "dtype": "<i8"}
    with pytest.raises(ModelFormatError, match="OverflowError"):
        load(_with_header(tiny_file, tmp_path / "ovf.skd", json.dumps(header)))


def _npy_header(shape, descr="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_npy_shape_or_dtype_not_matching_its_bytes(tiny_file, tmp_path):
    members = _members(tiny_file)
    header = json.loads(members["skdistill.json"])
    header["arrays"]["2.weight"] = {"dtype": "<f4", "shape": [5, 10**9]}
    members["skdistill.json"] = json.dumps(header).encode()
    members["arrays/2.weight.npy"] = _npy_header((5, 10**9)) + bytes(80)
    with pytest.raises(ModelFormatError, match=r"shape \(5, 1000000000\)"):
        load(_write(tmp_path / "shape.skd", members))
    members["arrays/2.weight.npy"] = _npy_header((4, 4), descr="|O") + bytes(128)
    with pytest.raises(ModelFormatError):
        load(_write(tmp_path / "obj.skd", members))
    members["arrays/2.weight.npy"] = _npy_header((4, 4), descr=[("a", "<f4")]) + bytes(64)
    with pytest.raises(ModelFormatError, match="dtype"):
        load(_write(tmp_path / "rec.skd", members))


@pytest.mark.parametrize("edit", ["classes", "n_features", "chain", "mean"])
def test_arrays_that_do_not_fit_together(tiny_file, tmp_path, edit):
    members = _members(tiny_file)
    header = json.loads(members["skdistill.json"])
    if edit == "classes":
        header["fitted"]["classes_"]["__ndarray__"] = [0, 1]
    elif edit == "n_features":
        header["fitted"]["n_features_in_"] = 7
    else:
        name = "4.weight" if edit == "chain" else "0.mean"
        arr = np.zeros((5, 3) if edit == "chain" else 9, dtype=np.float32)
        buf = io.BytesIO()
        np.save(buf, arr)
        members[f"arrays/{name}.npy"] = buf.getvalue()
        header["arrays"][name] = {"dtype": "<f4", "shape": list(arr.shape)}
    members["skdistill.json"] = json.dumps(header).encode()
    with pytest.raises(ModelFormatError, match="do not fit together"):
        load(_write(tmp_path / "misfit.skd", members))


_MEMORY_SCRIPT = textwrap.dedent("""
    import sys
    from skdistill import ModelFormatError, load

    def peak():
        # VmHWM, the peak resident set of this process image, in KiB. Not ru_maxrss:
        # that survives exec, so a child of a large pytest worker would start at the
        # worker's size and hide everything below it.
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    # Warm up every import and code path on a small bad file first: the peak is a
    # lifetime high-water mark, so only what load() of the bomb adds shows in the delta.
    try:
        load(sys.argv[2])
    except ModelFormatError:
        pass
    before = peak()
    try:
        load(sys.argv[1])
        print("LOADED")
    except ModelFormatError:
        pass
    after = peak()
    # Control: decompressing the member for real must show in the same measure, or a
    # delta of 0 above would prove nothing.
    control = 0
    if sys.argv[3] == "control":
        import zipfile
        with zipfile.ZipFile(sys.argv[1]) as zf:
            data = zf.read("arrays/2.weight.npy")
        control = peak() - after
    print((after - before) * 1024, control * 1024)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("declared", [None, 1000])
def test_zip_bomb_peak_memory(tmp_path, tiny_file, declared):
    bomb = _bomb(tmp_path / "bomb.skd", declared=declared)
    small = tmp_path / "small.skd"
    small.write_bytes(tiny_file.read_bytes()[:-10])
    result = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT,
                             str(bomb), str(small), "none" if declared else "control"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED" not in result.stdout
    peak, control = map(int, result.stdout.split()[-2:])
    limit = 64 * 2**20 + 4 * bomb.stat().st_size
    print(f"\nzip bomb ({bomb.stat().st_size} bytes on disk, declared={declared}): "
          f"peak RSS grew by {peak / 2**20:.1f} MiB (limit {limit / 2**20:.1f} MiB); "
          f"control, decompressing it with zipfile: +{control / 2**20:.1f} MiB")
    assert peak <= limit
    if declared is None:
        assert control > limit  # the measure would have caught a real decompression


# -- concurrency -----------------------------------------------------------------------
def test_concurrent_saves_and_loads_never_give_a_torn_file(tmp_path):
    """Two savers of different models and one reader share one path for 1,000 rounds."""
    models = [_tiny(seed=0), _tiny(seed=1)]
    expected = [m.predict_proba(X[:20]) for m in models]
    assert not np.array_equal(*expected)
    path = tmp_path / "shared.skd"
    save(models[0], path)
    rounds = 1000
    errors, reads = [], {"a": 0, "b": 0}
    done = threading.Event()

    def saver(model):
        try:
            for _ in range(rounds):
                save(model, path)
        except Exception as exc:  # surfaced by the main thread
            errors.append(exc)

    def reader():
        try:
            while not done.is_set() or reads["a"] + reads["b"] < rounds:
                proba = load(path).predict_proba(X[:20])
                if np.array_equal(proba, expected[0]):
                    reads["a"] += 1
                elif np.array_equal(proba, expected[1]):
                    reads["b"] += 1
                else:
                    raise AssertionError("a read gave neither model's predictions")
        except Exception as exc:
            errors.append(exc)

    savers = [threading.Thread(target=saver, args=(m,)) for m in models]
    read = threading.Thread(target=reader)
    for t in [*savers, read]:
        t.start()
    for t in savers:
        t.join()
    done.set()
    read.join()
    assert not errors, errors[:3]
    assert reads["a"] + reads["b"] >= rounds
    assert [p.name for p in tmp_path.iterdir()] == ["shared.skd"], "temporary files left"
    print(f"\nconcurrent: {rounds} saves x 2 threads, reads: {reads}, 0 corrupt")
