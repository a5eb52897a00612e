"""Errors that carry a one-line message meant for the user (CLI and app show them as they are)."""


class InputError(ValueError):
    """Bad user input (file, image, audio or parameter): the message says what is wrong in one line."""


class MissingWeights(InputError):
    """A component's weights are not there at all (not corrupt): the one case a loader may fall back from."""


def usable(names, build, what: str) -> tuple[list[str], list[str]]:
    """(the ``names`` whose ``build(name)`` succeeds, one line for each that raises InputError): the choices an app
    offers, and what it logs about the others; ``what`` names them in those lines ("sound", "drawing sound")."""
    ok, problems = [], []
    for name in names:
        try:
            build(name)
        except InputError as error:
            problems.append(f"{what} {name!r} is unavailable: {error}")
        else:
            ok.append(name)
    return ok, problems
