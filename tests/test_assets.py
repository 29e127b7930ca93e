"""Fetching, verifying and caching assets, with a local package index made in the test."""

import hashlib
import os
import time
import zipfile

import pytest

from lmgauge.errors import AssetError
from lmgauge.sources import assets
from lmgauge.sources.cache import MANIFEST_NAME, VERIFIED_NAME, building, manifest_problems


def make_wheel(folder, files: dict) -> tuple:
    """A minimal valid wheel `fakeasset-0.1.0` holding `files`; returns (path, sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fakeasset-0.1.0-py3-none-any.whl"
    info = "fakeasset-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: fakeasset\nVersion: 0.1.0\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_asset(tmp_path, cache, monkeypatch):
    index = tmp_path / "index"
    _, digest = make_wheel(
        index,
        {
            "fakeasset/data/weights.bin": b"\x00" * 1000,
            "fakeasset/data/config.json": b"{}",
            "fakeasset/other.py": b"",
        },
    )
    asset = assets.Asset(
        name="fake",
        requirement="fakeasset==0.1.0",
        filename="fakeasset-0.1.0-py3-none-any.whl",
        sha256=digest,
        prefix="fakeasset/data/",
        description="a test asset",
    )
    monkeypatch.setitem(assets.ASSETS, "fake", asset)
    return asset, ("--no-index", "--find-links", str(index))


def test_fetch_verify_extract(fake_asset, cache):
    asset, pip_args = fake_asset
    folder = assets.ensure("fake", pip_args)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", MANIFEST_NAME, "weights.bin"]
    assert manifest_problems(folder) == []
    assert assets.ensure("fake", ("--no-index",)) == folder, "a cached asset needs no index"


def test_hash_mismatch_is_one_sentence_and_deletes_the_file(fake_asset, cache, monkeypatch):
    asset, pip_args = fake_asset
    monkeypatch.setitem(
        assets.ASSETS, "fake", assets.Asset(**{**asset.__dict__, "sha256": "0" * 64})
    )
    with pytest.raises(AssetError, match=r"has sha256 .* expected 0000"):
        assets.ensure("fake", pip_args)
    assert not (assets.downloads_dir() / asset.filename).exists()


def test_unreachable_index_with_empty_cache(fake_asset, cache, tmp_path):
    with pytest.raises(AssetError) as caught:
        assets.ensure("fake", ("--no-index", "--find-links", str(tmp_path / "nowhere")))
    message = str(caught.value)
    assert "could not fetch asset 'fake'" in message and "lmgauge assets" in message
    assert "\n" not in message


def test_damaged_cache_names_the_repair_and_refresh_repairs(fake_asset, cache):
    asset, pip_args = fake_asset
    folder = assets.ensure("fake", pip_args)
    (folder / "weights.bin").write_bytes(b"\x01" * 1000)
    with pytest.raises(AssetError, match=r"damaged \(weights.bin does not match.*--refresh fake"):
        assets.ensure("fake", pip_args)
    (folder / "config.json").unlink()
    with pytest.raises(AssetError, match="config.json is missing"):
        assets.ensure("fake", pip_args)
    assert manifest_problems(assets.refresh("fake", pip_args)) == []


def test_a_file_is_hashed_again_only_when_its_stat_moved(tmp_path, monkeypatch):
    """A clean check stamps each file's stat; a later check trusts a stamp written well after
    the file last changed and hashes nothing, while a file rewritten with the same size (its
    mtime put back as it was) is hashed and caught, and a full check hashes everything."""
    from lmgauge.sources import cache

    with building(tmp_path / "folder", {}) as staging:
        (staging / "a.bin").write_bytes(b"a" * 100)
        (staging / "b.bin").write_bytes(b"b" * 100)
    folder = tmp_path / "folder"
    hashed = []
    real_sha256 = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda path: hashed.append(path.name)
                        or real_sha256(path))  # fmt: skip

    def check(**options) -> list[str]:
        hashed.clear()
        assert manifest_problems(folder, **options) == []
        return sorted(hashed)

    assert check() == ["a.bin", "b.bin"], "no stamp yet"
    assert check() == ["a.bin", "b.bin"], "racily clean: changed within RACY_NS of the stamp"
    monkeypatch.setattr(cache, "RACY_NS", 0)
    assert check() == [], "stamped after the files last changed"
    assert check(rehash=True) == ["a.bin", "b.bin"]
    before = (folder / "a.bin").stat()
    time.sleep(0.05)  # past the kernel's coarse clock tick, which ctime is read from
    (folder / "a.bin").write_bytes(b"x" * 100)
    os.utime(folder / "a.bin", ns=(before.st_atime_ns, before.st_mtime_ns))
    hashed.clear()
    assert manifest_problems(folder) == ["a.bin does not match its recorded sha256"]
    assert hashed == ["a.bin"]


@pytest.mark.parametrize(
    "stamp",
    ['{"written_ns": 1, "files": {"a.bin": [1, 2, 3, 4]}}',
     '{"written_ns": 1, "files": {"a.bin": {"stat": ["1", null, [], 4], "sha256": "%s"}}}',
     '{"written_ns": Infinity, "files": {}}', '{"written_ns": 1e400, "files": {}}',
     '{"written_ns": 1, "files": []}', "[1, 2]", "{{{", ""],
)
def test_a_broken_stamp_is_ignored_and_the_files_hashed(tmp_path, stamp):
    with building(tmp_path / "folder", {}) as staging:
        (staging / "a.bin").write_bytes(b"a" * 100)
    folder = tmp_path / "folder"
    digest = hashlib.sha256(b"a" * 100).hexdigest()
    (folder / VERIFIED_NAME).write_text(stamp.replace("%s", digest))
    assert manifest_problems(folder) == []
    (folder / "a.bin").write_bytes(b"b" * 100)
    (folder / VERIFIED_NAME).write_text(stamp.replace("%s", digest))
    assert manifest_problems(folder) == ["a.bin does not match its recorded sha256"]


def test_the_onnx_export_key_ignores_the_stamp_file(tmp_path):
    """The stamp is rewritten whenever a folder is hashed again; an export of the folder must
    not be made again for that."""
    from lmgauge.sources.onnx_genai import export_key

    (tmp_path / "model.safetensors").write_bytes(b"w" * 10)
    key = export_key(tmp_path, "0.18.0")
    (tmp_path / VERIFIED_NAME).write_text("{}")
    (tmp_path / f".{VERIFIED_NAME}.abc.tmp").write_text("{")
    assert export_key(tmp_path, "0.18.0") == key


def test_unknown_asset_lists_known():
    with pytest.raises(AssetError, match="known assets: .*smollm2-135m-gguf"):
        assets.get_asset("nope")


def test_building_leaves_nothing_behind_when_interrupted(tmp_path):
    final = tmp_path / "built"
    with pytest.raises(KeyboardInterrupt), building(final, {}) as staging:
        (staging / "half.bin").write_bytes(b"1")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "manifest",
    ['{"about": {}}', '{"files": {"a.bin": {"bytes": 3}}}', '{"files": []}', "[1, 2]"],
)
def test_a_manifest_of_the_wrong_shape_is_a_problem_not_a_traceback(tmp_path, manifest):
    (tmp_path / MANIFEST_NAME).write_text(manifest)
    (tmp_path / "a.bin").write_bytes(b"abc")
    problems = manifest_problems(tmp_path)
    assert problems and "manifest" in problems[0]
