"""The exceptions of spoor: one class per status code of include/spoor.h."""

from __future__ import annotations


class SpoorError(Exception):
    """A call into libspoor failed.

    Attributes:
        code: the negative status code of include/spoor.h (``SPOOR_E_*``).
        detail: the library's description of this failure (``spoor_error_detail()``), naming
            the field, size or state at fault.
    """

    code: int
    detail: str

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail or f"spoor error {code}")
        self.code = code
        self.detail = detail


class InvalidArgument(SpoorError, ValueError):
    """SPOOR_E_INVALID_ARGUMENT: a value outside its documented range."""


class NotInitialized(SpoorError):
    """SPOOR_E_NOT_INITIALIZED: spoor.init() was not called, or spoor.shutdown() was."""


class AlreadyInitialized(SpoorError):
    """SPOOR_E_ALREADY_INITIALIZED: spoor.init() while the library runs."""


class AbiMismatch(SpoorError):
    """SPOOR_E_ABI_MISMATCH: the extension and libspoor.so disagree on the binary interface."""


class InvalidConfig(SpoorError, ValueError):
    """SPOOR_E_INVALID_CONFIG: a keyword of spoor.init() or a SPOOR_* variable is invalid."""


class ShmError(SpoorError, OSError):
    """SPOOR_E_SHM: the shared-memory segment could not be created or mapped."""


class TooManyParents(SpoorError, ValueError):
    """SPOOR_E_TOO_MANY_PARENTS: more than spoor.MAX_PARENTS parents."""


class AttachmentTooLarge(SpoorError, ValueError):
    """SPOOR_E_ATTACHMENT_TOO_LARGE: the attachment exceeds spoor.MAX_ATTACHMENT bytes."""


class ReportTooLarge(SpoorError, ValueError):
    """SPOOR_E_REPORT_TOO_LARGE: the report needs more than a quarter of a ring."""


class TooManyOperators(SpoorError):
    """SPOOR_E_TOO_MANY_OPERATORS: the operator table is full."""


class BufferTooSmall(SpoorError):
    """SPOOR_E_BUFFER_TOO_SMALL: an output buffer is too small."""


class ParseError(SpoorError, ValueError):
    """SPOOR_E_PARSE: a context string or byte sequence, or a partitioner file, is malformed."""


class SpoorIOError(SpoorError, OSError):
    """SPOOR_E_IO: the log directory could not be created or written."""


class SpoorTimeout(SpoorError, TimeoutError):
    """SPOOR_E_TIMEOUT: spoor.flush() or a blocking write timed out."""


class NoMemory(SpoorError, MemoryError):
    """SPOOR_E_NO_MEMORY: the library could not allocate memory."""


#: The class raised for each status code.
ERROR_CLASSES: dict[int, type[SpoorError]] = {
    -1: InvalidArgument,
    -2: NotInitialized,
    -3: AlreadyInitialized,
    -4: AbiMismatch,
    -5: InvalidConfig,
    -6: ShmError,
    -7: TooManyParents,
    -8: AttachmentTooLarge,
    -9: ReportTooLarge,
    -10: TooManyOperators,
    -11: BufferTooSmall,
    -12: ParseError,
    -13: SpoorIOError,
    -14: SpoorTimeout,
    -15: NoMemory,
}
