"""One error type for bad user input: it names the parameter and the valid range."""


class InputError(ValueError):
    """Bad input. ``param`` is the offending parameter; the message says the valid range.

    The CLI turns it into exit status 2 with a one-line message.
    """

    def __init__(self, param: str, message: str):
        self.param = param
        self.message = message
        super().__init__(f"{param}: {message}")

    def __reduce__(self):
        # rebuilt from (param, message), not from the joined text: an error raised in a worker process of
        # ``check`` reaches the parent as itself (the default pickling called __init__ with one argument)
        return type(self), (self.param, self.message), self.__dict__


MAX_MAGNITUDE = 1e12      # any real parameter: beyond this, squares and exponentials overflow float64
TINY = 2.2250738585072014e-308   # smallest normal float64: below it (subnormals) precision is lost and 1/x overflows


def require_positive(name: str, value: float) -> float:
    value = require_finite(name, value)
    if value <= 0:
        raise InputError(name, f"must be > 0 (got {value!r})")
    return value


def require_nonnegative(name: str, value: float) -> float:
    value = require_finite(name, value)
    if value < 0:
        raise InputError(name, f"must be >= 0 (got {value!r})")
    return value


def require_finite(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(name, f"must be a real number (got {value!r})") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(name, f"must be a finite real number (got {value!r})")
    if abs(value) > MAX_MAGNITUDE:
        raise InputError(name, f"must lie in [-{MAX_MAGNITUDE:g}, {MAX_MAGNITUDE:g}] (got {value!r}); larger values "
                               "overflow the computations")
    if 0 < abs(value) < TINY:
        raise InputError(name, f"{value!r} is below {TINY:g} (a subnormal number); use 0 or a larger value")
    return value


def require_int(name: str, value, minimum: int = 1) -> int:
    try:
        ivalue = int(value)
    except (TypeError, ValueError):
        raise InputError(name, f"must be an integer >= {minimum} (got {value!r})") from None
    if ivalue != value or ivalue < minimum:
        raise InputError(name, f"must be an integer >= {minimum} (got {value!r})")
    return ivalue
