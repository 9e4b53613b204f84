"""The ffmpeg layer: the aarch64 ffmpeg of the video extra's wheel at bin/ffmpeg, PyAV under python/ without its
debug info, a NOTICE for the GPL; built without Docker, cached by a stamp, and kept out of the runtime layer."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import av
import pytest

from offload.cdk import elf
from offload.cdk.layers import (
    LAYER_FFMPEG,
    NOTICE_NAME,
    build_ffmpeg_layer,
    build_layer,
    runtime_requirements,
)

VIDEO_PINS = runtime_requirements(extra="video")


@pytest.fixture(scope="module")
def ffmpeg_layer(synthesis) -> Path:
    """The layer the session's synth built (or found current)."""
    return build_ffmpeg_layer().path


def test_the_video_extras_pins_are_what_the_layer_is_built_from() -> None:
    assert sorted(VIDEO_PINS) == ["av==18.1.0", "imageio-ffmpeg==0.8.1"]


def test_bin_ffmpeg_is_the_wheels_aarch64_executable(ffmpeg_layer: Path) -> None:
    binary = ffmpeg_layer / LAYER_FFMPEG
    assert binary.is_file()
    assert binary.stat().st_mode & stat.S_IXUSR and binary.stat().st_mode & stat.S_IXOTH, "Lambda runs it as any user"
    assert elf.machine(binary) == "aarch64"
    assert binary.stat().st_size > 100_000_000, "the static build with every codec, not a stub"
    assert b"--enable-libx264" in binary.read_bytes()


def test_pyav_is_importable_from_python_and_carries_its_own_libraries(ffmpeg_layer: Path) -> None:
    site = ffmpeg_layer / "python"
    assert (site / "av" / "__init__.py").is_file()
    modules = list((site / "av").rglob("*.abi3.so"))
    assert modules and all(elf.machine(m) == "aarch64" for m in modules)
    assert any(p.name.startswith("libavcodec") for p in (site / "av.libs").iterdir())
    assert list(site.glob("av-*.dist-info/licenses/LICENSE*")), "PyAV's licence ships with it"
    # Only what runs: no console scripts, no second ffmpeg wheel, nothing of offload.
    for absent in ("bin", "imageio_ffmpeg", "offload"):
        assert not (site / absent).exists(), absent


def test_pyavs_extension_modules_lost_their_debug_info_and_nothing_else(ffmpeg_layer: Path) -> None:
    modules = list((ffmpeg_layer / "python" / "av").rglob("*.so"))
    assert sum(elf.debug_bytes(m) for m in modules) == 0
    frame = next(m for m in modules if m.name.startswith("frame."))
    tables = elf.read_tables(frame.read_bytes())
    assert tables is not None and {".text", ".dynsym", ".dynamic", ".symtab"} <= {s.name for s in tables.sections}
    assert all(_loadable(m) for m in modules), "every PT_LOAD's p_offset is congruent to its p_vaddr"


def test_the_notice_names_the_binary_its_source_wheel_and_the_gpl(ffmpeg_layer: Path) -> None:
    notice = (ffmpeg_layer / NOTICE_NAME).read_text()
    assert "FFmpeg 9.0.2" in notice and "n9.0.2" in notice
    assert "imageio_ffmpeg-0.8.1-py3-none-manylinux_2_28_aarch64.whl" in notice and "sha256 " in notice
    assert "GNU General Public License, version 3 or later" in notice
    assert "--enable-gpl --enable-version3" in notice
    assert "av==18.1.0" in notice and "corresponding source" in notice


def test_a_second_build_with_nothing_changed_is_a_no_op(ffmpeg_layer: Path) -> None:
    stamp = ffmpeg_layer / ".stamp"
    before = stamp.stat().st_mtime_ns
    again = build_ffmpeg_layer()
    assert again.rebuilt is False and stamp.stat().st_mtime_ns == before


def test_the_runtime_layer_has_neither_ffmpeg_nor_pyav(synthesis) -> None:
    runtime = build_layer().path
    assert not (runtime / "bin").exists()
    assert not (runtime / "python" / "av").exists() and not (runtime / "python" / "imageio_ffmpeg").exists()


def test_requirements_without_the_ffmpeg_wheel_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"one imageio-ffmpeg requirement, got none .*pin imageio-ffmpeg"):
        build_ffmpeg_layer(tmp_path / "layer", requirements=["av==18.1.0"])
    assert not (tmp_path / "layer").exists()


@pytest.mark.slow
def test_a_host_pyav_stripped_the_same_way_still_imports_and_decodes(tmp_path: Path) -> None:
    # Given this machine's PyAV (x86_64, with debug info like the aarch64 wheel), copied
    site = tmp_path / "site"
    source = Path(av.__file__).parent
    shutil.copytree(source, site / "av")
    if (source.parent / "av.libs").is_dir():
        shutil.copytree(source.parent / "av.libs", site / "av.libs")
    libraries = [f for f in site.rglob("*.so*") if f.is_file() and elf.is_elf64_le(f)]
    debug_before = sum(elf.debug_bytes(f) for f in libraries)
    loaded_before = {f: _loaded_bytes(f) for f in libraries}
    # when its debug info is dropped
    saved = sum(elf.strip_debug(f) for f in libraries)
    # then the debug bytes are gone, what the loader maps is byte for byte the same, and it still works
    assert debug_before > 0 and saved >= debug_before * 0.9
    assert sum(elf.debug_bytes(f) for f in libraries) == 0
    assert all(_loaded_bytes(f) == loaded_before[f] for f in libraries)
    assert all(_loadable(f) for f in libraries)
    clip = tmp_path / "clip.mp4"
    from offload.media.video.ffmpeg import run_ffmpeg

    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc=size=160x90:rate=10", "-t", "1", "-c:v", "libx264", str(clip)], what="clip"
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import av; "
        "c = av.open(sys.argv[2]); f = next(c.decode(video=0)); print(av.__file__, f.width, f.height)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(site), str(clip)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(site / "av" / "__init__.py"), "160", "90"]


def test_a_file_that_is_not_elf_is_left_alone(tmp_path: Path) -> None:
    script = tmp_path / "tool.so"
    script.write_bytes(b"#!/bin/sh\necho not a library\n")
    assert elf.strip_debug(script) == 0 and script.read_bytes() == b"#!/bin/sh\necho not a library\n"


def _loaded_bytes(path: Path) -> list[bytes]:
    """Each segment's bytes as the loader maps them (p_offset .. p_offset + p_filesz), with its p_vaddr; the
    file offsets in the ELF header (e_shoff) and the program headers (p_offset) blanked, since those move."""
    data = bytearray(path.read_bytes())
    tables = elf.read_tables(bytes(data))
    assert tables is not None
    data[0x28:0x30] = bytes(8)
    for i in range(len(tables.segments)):
        at = tables.phoff + i * 56 + 8
        data[at : at + 8] = bytes(8)
    return [seg[3].to_bytes(8, "little") + bytes(data[seg[2] : seg[2] + seg[5]]) for seg in tables.segments]


def _loadable(path: Path) -> bool:
    """What glibc's loader checks of each PT_LOAD: (p_vaddr - p_offset) % p_align == 0."""
    tables = elf.read_tables(path.read_bytes())
    assert tables is not None
    pt_load = 1
    return all((seg[3] - seg[2]) % max(1, seg[7]) == 0 for seg in tables.segments if seg[0] == pt_load)
