"""Request parameters are checked, never coerced: one line naming the parameter, what it must be, what came."""

from __future__ import annotations

import math

import pytest

from bd2music.errors import InputError
from bd2music.inputs import choice, flag, not_a_file, number, suffix


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "seconds must be a number between 1 and 60, got 'abc'"),
    (None, "seconds must be a number between 1 and 60, got None"),
    (True, "seconds must be a number between 1 and 60, got True"),
    (math.nan, "seconds must be a number between 1 and 60, got nan"),
    (0.5, "seconds must be between 1 and 60, got 0.5"),
    (61, "seconds must be between 1 and 60, got 61"),
])
def test_numbers_out_of_type_or_range_are_refused(value, message) -> None:
    with pytest.raises(InputError, match=f"^{message}$".replace("(", "\\(")):
        number(value, "seconds", 1, 60)


def test_whole_numbers_and_flags() -> None:
    assert number(7.0, "seed", 0, 2**32 - 1, whole=True) == 7 and isinstance(number(7.0, "seed", 0, 9, True), int)
    assert number(2.5, "seconds", 1, 60) == 2.5
    with pytest.raises(InputError, match="^seed must be a whole number, got 1.5$"):
        number(1.5, "seed", 0, 2**32 - 1, whole=True)
    with pytest.raises(InputError, match="^seed must be between 0 and 4294967295, got 1180591620717411303424$"):
        number(2**70, "seed", 0, 2**32 - 1, whole=True)
    assert flag(False, "rtl") is False
    for value in ("no", 1, None):
        with pytest.raises(InputError, match="^rtl must be true or false, got "):
            flag(value, "rtl")


def test_choices_suffixes_and_files() -> None:
    assert choice("yolo", "detector", ("yolo", "classical")) == "yolo"
    for value, shown in (("foo", "'foo'"), (None, "None"), (3, "3"), (["yolo"], "['yolo']")):
        with pytest.raises(InputError, match=f"^detector must be one of yolo, classical, got {shown}$".replace("[", "\\[")):
            choice(value, "detector", ("yolo", "classical"))
    assert suffix("/tmp/x/Page.JPG", (".jpg",), "an image") == "/tmp/x/Page.JPG"
    with pytest.raises(InputError, match="^notes.pdf: not an image$"):  # the file's name, never its folder
        suffix("/srv/uploads/notes.pdf", (".jpg",), "an image")
    message = str(not_a_file({"path": "/etc/passwd"}, "page"))
    assert message == "page must be a file sent with the request (gradio_client.handle_file(path)), got {'path': '/etc/passwd'}"
