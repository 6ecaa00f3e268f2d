"""The one exception for a mistake in what the user asked for."""


class UsageError(ValueError):
    """A wrong input pattern, an unwritable output, a bad recipe: reported in one line before any
    work starts (`thresher` exits 2), never counted as bad data."""
