"""Drawing mazes: NumPy frames from cached tiles, ANSI text, a pygame window, GIFs.

Rendering only *reads* a maze and an agent position (plus optional overlays); it never changes an
env. Frames are built at the tile level (one colour per tile: floor, wall, start, goal, trail,
heatmap), scaled up once, then small cached sprites (the agent, the arrows) are stamped on. pygame
is imported only by :class:`Window`, which calls nothing but ``pygame.display.init()``; Pillow draws
captions and writes GIFs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lab.runs import atomic_path

FLOOR = (238, 238, 232)
WALL = (44, 48, 58)
START = (164, 196, 236)
GOAL = (76, 175, 80)
TRAIL = (255, 196, 110)
AGENT = (214, 48, 49)
ARROW = (24, 24, 24)
CAPTION_BG = (28, 30, 36)
CAPTION_FG = (235, 235, 235)
FOG = (92, 96, 108)
FOG_ALPHA = 0.85
TRAIL_ALPHA = 0.55
HEAT_ALPHA = 0.75
ARROWS = "^>v<"  # N, E, S, W


class NoDisplayError(RuntimeError):
    """A window was asked for on a machine with no screen (the `lab` commands report it as a user error)."""


# --------------------------------------------------------------------------------------------------
# Colours


def _viridis_lut() -> np.ndarray:
    anchors = np.array([(68, 1, 84), (65, 68, 135), (42, 120, 142), (34, 168, 132), (122, 209, 81),
                        (253, 231, 37)],
                       dtype=np.float64)
    x = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, anchors[:, i]) for i in range(3)], axis=1)


_LUT = _viridis_lut()


def heat_colors(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of finite values, their colours as float RGB) with the finite range mapped onto viridis."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return finite, np.zeros((0, 3))
    v = values[finite]
    lo, hi = float(v.min()), float(v.max())
    scaled = np.zeros_like(v) if hi <= lo else (v - lo) / (hi - lo)
    return finite, _LUT[(scaled * 255).round().astype(np.int64)]


# --------------------------------------------------------------------------------------------------
# Frames


class Painter:
    """Draws frames of ``tile`` pixels per tile; caches the pieces of the last maze drawn."""

    def __init__(self, tile: int = 16):
        self.tile = int(tile)
        t = self.tile
        yy, xx = np.mgrid[0:t, 0:t] + 0.5
        c = t / 2
        self._agent = (yy - c) ** 2 + (xx - c) ** 2 <= (0.36 * t) ** 2
        north = (yy >= 0.18 * t) & (yy <= 0.82 * t) & (np.abs(xx - c) <= (yy - 0.18 * t) * 0.55)
        # One sprite per action (N, E, S, W) plus an empty one for "no arrow".
        self._arrows = np.stack([north, np.rot90(north, -1), np.rot90(north, 2), np.rot90(north, 1),
                                 np.zeros_like(north)])
        self._maze = None
        self._tiles: np.ndarray | None = None
        self._base: np.ndarray | None = None
        self._captions: dict[tuple[str, int], np.ndarray] = {}

    def _prepare(self, maze) -> None:
        if self._maze is maze:
            return
        tiles = np.empty(maze.shape + (3,), dtype=np.uint8)
        tiles[:] = FLOOR
        tiles[maze.walls] = WALL
        tiles[maze.start] = START
        tiles[maze.goal] = GOAL
        self._tiles = tiles
        self._base = np.repeat(np.repeat(tiles, self.tile, axis=0), self.tile, axis=1)
        self._base.flags.writeable = False
        self._maze = maze

    def frame(
        self,
        maze,
        agent: Sequence[int] | None,
        trail: np.ndarray | Iterable[tuple[int, int]] | None = None,
        values: np.ndarray | None = None,
        actions: np.ndarray | None = None,
        caption: str | None = None,
        seen: np.ndarray | None = None,
    ) -> np.ndarray:
        """An RGB uint8 frame (rows*tile [+ caption bar], cols*tile, 3).

        Args:
            maze: the Maze to draw.
            agent: (row, col) of the agent, or None.
            trail: bool mask on the tile grid (or (row, col) pairs) of tiles visited this episode.
            values: float array on the tile grid drawn as a heatmap over floor tiles (NaN: none).
            actions: int array on the tile grid drawn as arrows N, E, S, W = 0..3 (-1: none).
            caption: a line of text drawn in a bar under the maze.
            seen: bool mask on the tile grid; the other tiles are drawn in fog (walls, goal and all).
        """
        self._prepare(maze)
        shape = maze.shape
        t = self.tile
        img = self._base.copy()
        # A (rows, tile, cols, tile, 3) view: tiles[r, :, c] is tile (r, c); fancy indices paint many tiles at once.  # noqa: E501
        view = img.reshape(shape[0], t, shape[1], t, 3)
        floor = ~maze.walls
        colors, paint = self._tile_colors(maze, trail, values, seen)
        if paint.any():
            rr, cc = np.nonzero(paint)
            view[rr, :, cc] = colors[rr, cc].astype(np.uint8)[:, None, None, :]
        if actions is not None:
            acts = _on_grid(actions, shape, "actions", np.int64)
            ok = floor & (acts >= 0) & (acts <= 3)
            ok[maze.goal] = False
            rr, cc = np.nonzero(ok)
            if len(rr):
                stamped = view[rr, :, cc]  # (K, tile, tile, 3) copy
                stamped[self._arrows[acts[rr, cc]]] = ARROW
                view[rr, :, cc] = stamped
        if agent is not None:
            r, c = int(agent[0]), int(agent[1])
            img[r * t:(r + 1) * t, c * t:(c + 1) * t][self._agent] = AGENT
        if caption:
            img = np.concatenate([img, self._caption(str(caption), img.shape[1])], axis=0)
        return img

    def _tile_colors(self, maze, trail, values, seen) -> tuple[np.ndarray, np.ndarray]:
        """(float RGB of every tile, mask of the tiles whose colour the trail, heatmap or fog changed)."""
        shape, floor = maze.shape, ~maze.walls
        paint = np.zeros(shape, dtype=bool)
        colors = self._tiles.astype(np.float32)
        mask = _as_mask(trail, shape) if trail is not None else None
        if mask is not None:
            m = mask & floor
            m[maze.goal] = False  # the goal always shows in its own colour
            colors[m] = colors[m] * (1 - TRAIL_ALPHA) + np.array(TRAIL, dtype=np.float32) * TRAIL_ALPHA
            paint |= m
        if values is not None:
            values = _on_grid(values, shape, "values", np.float64)
            on = floor.copy()
            on[maze.goal] = False
            finite, heat = heat_colors(np.where(on, values, np.nan))
            colors[finite] = colors[finite] * (1 - HEAT_ALPHA) + heat * HEAT_ALPHA
            paint |= finite
        if seen is not None:
            fog = ~_on_grid(seen, shape, "seen", bool)
            colors[fog] = colors[fog] * (1 - FOG_ALPHA) + np.array(FOG, dtype=np.float32) * FOG_ALPHA
            paint |= fog
        return colors, paint

    def agent_frames(self, maze, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(K, H, W, 3) uint8: the frame :meth:`frame` draws with the agent at each (``rows[k]``, ``cols[k]``)
        and no overlay or caption (what ``observation: pixels`` shows), built in one batch."""
        self._prepare(maze)
        t, k = self.tile, len(rows)
        out = np.repeat(self._base[None], k, axis=0)
        view = out.reshape(k, maze.shape[0], t, maze.shape[1], t, 3)
        tiles = view[np.arange(k), rows, :, cols]  # (K, tile, tile, 3) copy
        tiles[:, self._agent] = AGENT
        view[np.arange(k), rows, :, cols] = tiles
        return out

    def _caption(self, text: str, width: int) -> np.ndarray:
        key = (text, width)
        bar = self._captions.get(key)
        if bar is None:
            bar = caption_bar(text, width)
            if len(self._captions) > 256:
                self._captions.clear()
            self._captions[key] = bar
        return bar


def caption_bar(text: str, width: int) -> np.ndarray:
    """A dark strip of ``width`` pixels with ``text`` in it, words wrapped to fit (drawn with Pillow)."""
    try:
        font = ImageFont.load_default(size=13)  # a FreeType font when Pillow has FreeType
    except (OSError, ValueError, TypeError):
        font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}" if line else word
            if line and probe.textlength(trial, font=font) > width - 8:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    left, top, right, bottom = probe.textbbox((0, 0), "Ag", font=font)
    line_h = bottom + 3
    image = Image.new("RGB", (width, line_h * len(lines) + 6), CAPTION_BG)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((4, 3 + i * line_h), line, fill=CAPTION_FG, font=font)
    return np.asarray(image, dtype=np.uint8)


def _as_mask(trail, shape) -> np.ndarray | None:
    if isinstance(trail, np.ndarray) and trail.dtype == bool:
        if trail.shape != shape:
            raise ValueError(f"trail mask has shape {trail.shape}, the maze grid is {shape}")
        return trail.copy() if trail.any() else None
    mask = np.zeros(shape, dtype=bool)
    pts = np.asarray(list(trail), dtype=np.int64).reshape(-1, 2)
    if len(pts) == 0:
        return None
    mask[pts[:, 0], pts[:, 1]] = True
    return mask


def _on_grid(array, shape, name: str, dtype) -> np.ndarray:
    a = np.asarray(array, dtype=dtype)
    if a.shape != shape:
        raise ValueError(f"overlay {name} has shape {a.shape}; it must match the tile grid {shape}")
    return a


def ansi(maze, agent: Sequence[int] | None, trail=None, actions: np.ndarray | None = None) -> str:
    """The maze as text: '#' wall, '.' floor, 'S' start, 'G' goal, 'A' agent, 'o' trail, '^>v<' actions."""
    shape = maze.shape
    chars = np.where(maze.walls, "#", ".").astype("<U1")
    if trail is not None:
        mask = _as_mask(trail, shape)
        if mask is not None:
            chars[mask & ~maze.walls] = "o"
    if actions is not None:
        acts = _on_grid(actions, shape, "actions", np.int64)
        ok = ~maze.walls & (acts >= 0) & (acts <= 3)
        chars[ok] = np.array(list(ARROWS))[acts[ok]]
    chars[maze.start] = "S"
    chars[maze.goal] = "G"
    if agent is not None:
        chars[int(agent[0]), int(agent[1])] = "A"
    return "\n".join("".join(row) for row in chars) + "\n"


# --------------------------------------------------------------------------------------------------
# The window


def display_problem() -> str | None:
    """Why no window can be shown here (None when a screen looks available)."""
    driver = os.environ.get("SDL_VIDEODRIVER", "").strip().lower()
    if driver in ("dummy", "offscreen", "evdev"):
        return f"SDL_VIDEODRIVER={driver} draws to no screen"
    if (sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and
            driver not in ("kmsdrm", "directfb")):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            return "neither DISPLAY nor WAYLAND_DISPLAY is set (a headless machine, or SSH without -X)"
    return None


RENDER_HINT = ("Use render_mode='rgb_array' (frames as arrays) or 'ansi' (text), or run it where there is a "
               "display.")


def require_display(purpose: str = "human rendering", hint: str = RENDER_HINT) -> None:
    """Raise NoDisplayError when no window can be opened."""
    problem = display_problem()
    if problem:
        raise NoDisplayError(f"{purpose} needs a screen, but {problem}. {hint}")


class Window:
    """A pygame window that shows frames scaled to its size; ``close()`` is safe to call twice."""

    def __init__(self, title: str = "lab maze", fps: int = 8, max_size: tuple[int, int] = (960, 900)):
        self.title = title
        self.fps = fps
        self.max_size = max_size
        self._pg = None
        self._screen = None
        self._clock = None
        self.closed_by_user = False

    @property
    def is_open(self) -> bool:
        return self._screen is not None

    def _open(self, frame_size: tuple[int, int]) -> None:
        require_display("a pygame window")
        import pygame

        pygame.display.init()
        w, h = frame_size
        scale = min(self.max_size[0] / w, self.max_size[1] / h)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        self._screen = pygame.display.set_mode(size, pygame.RESIZABLE)
        pygame.display.set_caption(self.title)
        self._clock = pygame.time.Clock()
        self._pg = pygame

    def show(self, frame: np.ndarray, drain_events: bool = True, wait: bool = True) -> None:
        """Draw ``frame`` (H, W, 3 uint8) scaled to the window, then (``wait``) wait to keep ``fps``."""
        if self.closed_by_user:
            return
        if self._screen is None:
            self._open((frame.shape[1], frame.shape[0]))
        pg = self._pg
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
        sw, sh = self._screen.get_size()
        fh, fw = frame.shape[:2]
        scale = min(sw / fw, sh / fh)
        size = (max(1, int(fw * scale)), max(1, int(fh * scale)))
        self._screen.fill((20, 20, 24))
        self._screen.blit(pg.transform.scale(surface, size), ((sw - size[0]) // 2, (sh - size[1]) // 2))
        pg.display.flip()
        if drain_events:
            for event in pg.event.get():
                if event.type == pg.QUIT:
                    self.closed_by_user = True
                    self.close()
                    return
        if wait:
            self._clock.tick(self.fps)

    def events(self) -> list:
        """Pending pygame events (for interactive use); [] when the window is not open."""
        if self._pg is None or self._screen is None:
            return []
        return self._pg.event.get()

    def wait(self, fps: int) -> None:
        if self._clock is not None:
            self._clock.tick(fps)

    def close(self) -> None:
        if self._pg is not None:
            self._pg.display.quit()
        self._pg = None
        self._screen = None
        self._clock = None


# --------------------------------------------------------------------------------------------------
# GIFs


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: int = 8) -> Path:
    """Write RGB uint8 frames as a looping GIF, atomically (temporary file, then rename).

    Frames of different sizes (a caption that wraps onto more lines) are padded at the bottom and
    right to the largest, in the caption colour.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"frame {i} is {getattr(f, 'dtype', type(f).__name__)} "
                             f"{getattr(f, 'shape', '')}; every frame must be a uint8 (height, width, 3) RGB "
                             f"array")
    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    images = []
    for f in frames:
        if f.shape[:2] != (height, width):
            padded = np.empty((height, width, 3), dtype=np.uint8)
            padded[:] = CAPTION_BG
            padded[:f.shape[0], :f.shape[1]] = f
            f = padded
        images.append(Image.fromarray(f))
    path = Path(path)
    with atomic_path(path, suffix=".gif") as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, int(round(1000 / max(1, fps)))), loop=0, optimize=False)
    return path
