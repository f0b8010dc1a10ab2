"""Send a rule's stderr (warnings, progress, tracebacks, native libraries' logs) to its log file."""

import contextlib
import logging
import os
import sys


class PipelineError(Exception):
    """An error the project raises on purpose; its message says what to change.

    A job that fails with one shows that message as one console line; the traceback is only in the job's log.
    """


@contextlib.contextmanager
def rule_log(path, mode="w"):
    """Redirect stderr, Python's and file descriptor 2, to `path`; log INFO lines there. `mode` "a" keeps what
    the log holds (the train job's: another job may be writing to it).

    Descriptor 2 matters for native code (SentencePiece, TensorFlow) that writes past Python's sys.stderr.
    On an exception the traceback goes to the log, and one line with its message to the console. A
    PipelineError then ends the process with exit status 1 (SystemExit), so that Python prints no traceback
    on the console; anything else propagates, traceback and all, as a bug should.
    """
    with open(path, mode, buffering=1) as log:
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
            if isinstance(error, PipelineError):
                raise SystemExit(1) from None
            raise
        finally:
            sys.stderr = old
            os.dup2(console_fd, 2)
            os.close(console_fd)
