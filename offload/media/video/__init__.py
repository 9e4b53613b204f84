"""Video and audio processing with one static ffmpeg (the ffmpeg layer on Lambda, the host's wheel here).

The single home of each piece, used by the video pack's steps, the live-stream jobs, the demo and
bench/video.py alike:
- `ffmpeg`: where the binary is and how it is run (errors carry ffmpeg's own last lines);
- `facts`: what a source is (`MediaFacts`, from `probe`) and the input limits (`Limits`); a source
  offload can't use raises `MediaInputError` (NonRetryableError with a stable code);
- `plan`: what to make of a source (`Plan`: renditions, segments, filters), from its facts and the
  pack's options (`VideoOptions`);
- `encode`: one segment of every video output, the audio, joining segments, MP4/WebM muxing;
- `hls`: media playlists from joined renditions, and the master playlist;
- `previews`: the poster and the scrubbing sprite sheet with its WebVTT;
- `audio`: audio-only outputs (AAC, Opus, MP3), loudness normalisation and the waveform;
- `watermark`: text (rendered with Pillow) or logo overlays as an ffmpeg filter;
- `samples`: generated clips (phones, cameras, broken files) for tests, the demo and the bench.
"""
