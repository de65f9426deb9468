"""Video of a checkpoint's greedy agent: ``numpy-ddqn record CHECKPOINT``.

Frames come from Gymnasium's ``rgb_array`` rendering (pygame, via ``gymnasium[classic-control]``
for the classic-control envs). An ``.mp4`` is written with imageio + imageio-ffmpeg; where no video
encoder is installed (or the name ends in ``.gif``) an animated GIF is written with Pillow.
Everything needed is in the ``record`` extra: ``pip install 'numpy_ddqn[record]'``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import MissingDependency, require
from ..run.evaluate import HELDOUT_SEED


VIDEO_SUFFIXES = (".mp4", ".gif")
"""The files ``record`` writes: an MP4 video (imageio-ffmpeg) or an animated GIF (Pillow)."""


def check_video_path(path):
    """Refuse, in one line, a file name ``record`` cannot write (another suffix than ``VIDEO_SUFFIXES``)."""
    from ..errors import ConfigError
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ConfigError(f"record writes {' or '.join(VIDEO_SUFFIXES)} files, not {suffix or 'a name without a suffix'!r} "
                          f"({path}); name the output like video.mp4 or video.gif")


def _has_ffmpeg():
    try:
        import imageio_ffmpeg
        imageio_ffmpeg.get_ffmpeg_exe()
        return True
    except (ImportError, RuntimeError):
        return False


def collect_frames(agent, env, episodes=1, seed=HELDOUT_SEED, max_steps=500):
    """RGB frames ``(H, W, 3)`` of greedy episodes, episode k reset with ``seed + k``; also the returns."""
    frames, returns = [], []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        frames.append(env.render())
        total = 0.0
        for _ in range(max_steps):
            obs, reward, terminated, truncated, _ = env.step(agent.greedy_action(obs))
            total += reward
            frames.append(env.render())
            if terminated or truncated:
                break
        returns.append(total)
    return frames, returns


def as_video_frame(frame, min_size=160):          # (H, W, 3) any dtype -> (H', W', 3) uint8
    """An RGB frame as uint8 pixels: floats in [0, 1] (MinAtar's rendering) scaled to 0..255, and a tiny
    frame (MinAtar's 10x10) enlarged by an integer factor, each cell a block, so a video player shows it."""
    frame = np.asarray(frame)
    if frame.dtype.kind == "f":
        frame = np.clip(np.rint(frame * 255.0), 0, 255)
    frame = frame.astype(np.uint8, copy=False)
    scale = max(1, -(-min_size // max(1, min(frame.shape[:2]))))
    return frame.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else frame


def write_video(frames, path, fps=50):
    """Write frames to ``path`` (.mp4 with ffmpeg, .gif with Pillow); returns the path written."""
    path = Path(path)
    check_video_path(path)
    frames = [as_video_frame(f) for f in frames]
    if path.suffix.lower() == ".gif":
        require("PIL", "record")
        from PIL import Image
        images = [Image.fromarray(np.asarray(f)) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        return path
    require("imageio", "record")
    if not _has_ffmpeg():
        raise MissingDependency(f"writing {path.suffix} needs a video encoder: pip install 'numpy_ddqn[record]' "
                                "(imageio-ffmpeg), or ask for a .gif")
    import imageio.v2 as imageio
    with imageio.get_writer(path, fps=fps, macro_block_size=1) as writer:
        for f in frames:
            writer.append_data(np.asarray(f))
    return path


def record_video(checkpoint, out=None, episodes=1, seed=HELDOUT_SEED, max_steps=500, fps=50):
    """Record a checkpoint's greedy agent on the env it was trained on; returns a line naming the file."""
    from ..rl.agent import DDQNAgent
    from ..run.envs import check_spaces, env_from_config, rendering
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")   # frames are drawn off-screen: no display, no SDL warning
    checkpoint = Path(checkpoint)
    if out is not None:
        check_video_path(out)                 # before the episodes are played, not after
    state = DDQNAgent.read_checkpoint(checkpoint)
    with rendering("record"):                 # no pygame, or no way to draw: one line, not SDL's traceback
        env = env_from_config(DDQNAgent.config_from_state(state, checkpoint), render_mode="rgb_array")
        agent = DDQNAgent.from_state(state, *check_spaces(env), source=checkpoint)
        frames, returns = collect_frames(agent, env, episodes, seed, max_steps)
    env.close()
    if out is None:
        out = checkpoint.with_suffix(".mp4" if _has_ffmpeg() else ".gif")
    path = write_video(frames, out, fps)
    return f"{path} ({len(frames)} frames, returns {', '.join(f'{r:g}' for r in returns)})"
