"""Regenerate the placeholder peer videos: espeak-ng narrates the transcript, ffmpeg draws a
title card and encodes VP9 + Opus WebM, and we write WebVTT captions and the measured duration
back into videos.yaml. Real recordings can replace these later (use `url:` or swap the files).

Needs Debian's ffmpeg (with libvpx, libopus, drawtext), ffprobe and espeak-ng.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import textwrap
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from content.loader import DATA_ROOT

SIZE = "480x270"
FPS = 10
BACKGROUND = "0x1f2a36"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MAX_BYTES = 300_000
# espeak-ng voice variants so the peers do not all sound the same.
VOICES = {
    "amara": "en-gb+f3",
    "tom": "en-gb+m3",
    "priya": "en-gb+f2",
    "daniel": "en-gb+m1",
    "joe": "en-gb+m4",
    "grace": "en-gb+f4",
    "sam": "en-gb+m2",
    "mei": "en-gb+f1",
    "kwame": "en-gb+m7",
    "rosa": "en-gb+f5",
    "hannah": "en-gb+f3",
}
WORDS_PER_MINUTE = 140


def _run(*cmd: str) -> str:
    return str(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return float(w.getnframes() / w.getframerate())


def probe_duration(path: Path) -> float:
    out = _run("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path))
    return float(out.strip())  # ffprobe prints seconds, e.g. "31.410000"


def _timestamp(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def make_vtt(transcript: str, seconds: float, max_words: int = 7) -> str:
    """Split into cues of a few words at clause boundaries, timed by each cue's share of characters."""
    cues: list[list[str]] = []
    for clause in re.split(r"(?<=[.?!,;:])\s+", " ".join(transcript.split())):
        words = clause.split()
        if cues and len(words) < 3 and len(cues[-1]) + len(words) <= max_words:
            cues[-1] += words  # glue short clauses ("It didn't.") onto the previous cue
            continue
        k = -(-len(words) // max_words)  # ceil: balanced chunks rather than a short tail
        cues += [words[i * len(words) // k : (i + 1) * len(words) // k] for i in range(k)]
    texts = [" ".join(c) for c in cues]
    total = sum(len(t) + 1 for t in texts)
    out, start = ["WEBVTT", ""], 0.0
    for i, text in enumerate(texts, 1):
        end = seconds if i == len(texts) else start + seconds * (len(text) + 1) / total
        out += [str(i), f"{_timestamp(start)} --> {_timestamp(end)}", text, ""]
        start = end
    return "\n".join(out)


def _drawtext(tmp: Path, name: str, text: str, font: str, size: int, y: int, color: str = "white") -> str:
    # textfile= avoids escaping the text for the filter graph; expansion=none keeps '%' literal.
    f = tmp / f"{name}.txt"
    f.write_text(text, encoding="utf-8")
    return (
        f"drawtext=fontfile={font}:textfile={f}:expansion=none:fontcolor={color}:fontsize={size}:x=(w-text_w)/2:y={y}"
    )


def make_video(video: dict[str, Any], peer_name: str, media: Path, tmp: Path) -> float:
    vid = video["id"]
    script = tmp / f"{vid}.txt"
    script.write_text(" ".join(video["transcript"].split()), encoding="utf-8")
    wav = tmp / f"{vid}.wav"
    voice = VOICES.get(video["peer"], "en-gb")
    _run("espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "-f", str(script), "-w", str(wav))
    seconds = _wav_seconds(wav)

    lines = textwrap.wrap(video["title"], 26)
    top = 135 - 17 * len(lines) - 20
    filters = [_drawtext(tmp, f"t{i}", line, FONT_BOLD, 26, top + 34 * i) for i, line in enumerate(lines)]
    filters.append(_drawtext(tmp, "peer", peer_name, FONT, 20, top + 34 * len(lines) + 14, "0xf2c14e"))
    filters.append(_drawtext(tmp, "note", "A composite character, voiced for Tandem", FONT, 13, 240, "0xaab4bf"))
    out = media / f"{vid}.webm"
    _run(
        "ffmpeg",
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"color=c={BACKGROUND}:s={SIZE}:r={FPS}:d={seconds:.3f}",
        "-i",
        str(wav),
        "-vf",
        ",".join(filters),
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "0",
        "-crf",
        "45",
        "-deadline",
        "good",
        "-row-mt",
        "0",
        "-threads",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(FPS * 10),
        "-c:a",
        "libopus",
        "-b:a",
        "24k",
        "-ac",
        "1",
        "-shortest",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        str(out),
    )
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{out} is {size} bytes, over the {MAX_BYTES} byte budget")
    (media / f"{vid}.vtt").write_text(make_vtt(video["transcript"], seconds), encoding="utf-8")
    return round(probe_duration(out), 2)


def write_duration(yaml_text: str, video_id: str, seconds: float) -> str:
    """Replace one entry's `duration:` line in place, keeping comments and layout of videos.yaml."""
    pattern = re.compile(rf"(^\s*- id: {re.escape(video_id)}\s*\n(?:(?!\s*- id:).*\n)*?\s+duration: )[^\s#]*", re.M)
    new, n = pattern.subn(lambda m: f"{m.group(1)}{seconds}", yaml_text, count=1)
    if n != 1:
        raise RuntimeError(f"no 'duration:' line for {video_id} in videos.yaml")
    return new


def make_media(root: Path | None = None, only: list[str] | None = None, log: Callable[[str], None] = print) -> None:
    root = Path(root) if root is not None else DATA_ROOT
    missing = [t for t in ("ffmpeg", "ffprobe", "espeak-ng") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"needs {', '.join(missing)} (apt-get install ffmpeg espeak-ng fonts-dejavu-core)")
    videos_file = root / "videos.yaml"
    text = videos_file.read_text(encoding="utf-8")
    videos = yaml.safe_load(text)["videos"]
    peers = {p["id"]: p["name"] for p in yaml.safe_load((root / "peers.yaml").read_text(encoding="utf-8"))["peers"]}
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for v in videos:
            if v.get("url") or (only and v["id"] not in only):
                continue
            seconds = make_video(v, peers.get(v["peer"], v["peer"]), media, Path(tmp))
            text = write_duration(text, v["id"], seconds)
            log(f"{v['id']}: {seconds:.2f} s, {(media / (v['id'] + '.webm')).stat().st_size} bytes")
    videos_file.write_text(text, encoding="utf-8")
