"""Errors that carry a one-line message meant for the user (CLI and app show them as they are)."""


class InputError(ValueError):
    """Bad user input (file, image, audio or parameter): the message says what is wrong in one line."""
