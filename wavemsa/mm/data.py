"""What the checked datasets of both plug-ins share: a sample whose image or label map cannot be decoded is named.

mmcv's ``LoadImageFromFile`` meets a text file named ``.jpg`` or a cut-off image with ``AssertionError: failed
to load image`` (or the decoder's exception) in a loader worker. :class:`NamedUndecodableFiles` turns that case
into an :class:`~wavemsa.errors.InputError` naming the file, checking only when a sample fails (a healthy run
pays nothing).
"""
from __future__ import annotations

from PIL import Image

from ..errors import InputError

__all__ = ["NamedUndecodableFiles", "image_problem"]


def image_problem(path: str) -> str | None:
    """Why the file at ``path`` is not a decodable image (PIL reads it whole), or None when it is."""
    try:
        with Image.open(path) as im:
            im.load()
    except FileNotFoundError:
        return "file not found"
    except Exception as err:  # PIL's decoders raise OSError, SyntaxError, ValueError, EOFError, ... on bad data
        return f"not a decodable image ({type(err).__name__}: {err})"
    return None


class NamedUndecodableFiles:
    """Mixin for an mmengine ``BaseDataset`` (listed before it): when a sample's pipeline fails and its image
    (``img_path``) or label map (``seg_map_path``) cannot be decoded, raise an ``InputError`` naming that file
    (one line through a loader worker too); any other failure propagates unchanged."""

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except InputError:
            raise
        except Exception as err:
            info = self.get_data_info(idx)
            for key, what in (("img_path", "image"), ("seg_map_path", "label map")):
                problem = image_problem(info[key]) if info.get(key) else None
                if problem:
                    raise InputError(f"{what} {info[key]}: {problem}") from err
            raise
