"""Send a rule's stderr (warnings, progress, tracebacks, native libraries' logs) to its log file."""

import contextlib
import logging
import os
import sys


@contextlib.contextmanager
def rule_log(path):
    """Redirect stderr, Python's and file descriptor 2, to `path`; log INFO lines there.

    Descriptor 2 matters for native code (SentencePiece, TensorFlow) that writes past Python's sys.stderr.
    On an exception the traceback goes to the log, and one line with its message to the console.
    """
    with open(path, "w", buffering=1) as log:
        sys.stderr.flush()
        console_fd = os.dup(2)
        os.dup2(log.fileno(), 2)
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
            os.write(console_fd, f"ERROR: {error}\n".encode())
            raise
        finally:
            sys.stderr = old
            os.dup2(console_fd, 2)
            os.close(console_fd)
