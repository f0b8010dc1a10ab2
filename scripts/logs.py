"""Send a rule's stderr (warnings, progress bars, tracebacks) to its log file."""

import contextlib
import logging
import sys


@contextlib.contextmanager
def rule_log(path):
    """Redirect stderr to `path` and log INFO lines there; an exception is logged before it propagates."""
    with open(path, "w", buffering=1) as log:
        old = sys.stderr
        sys.stderr = log
        logging.basicConfig(
            stream=log, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
        )
        try:
            yield log
        except BaseException as error:
            logging.exception("job failed")
            # One line on the console as well, so the user need not open the log to learn what to change.
            print(f"ERROR: {error}", file=old)
            raise
        finally:
            sys.stderr = old
