package io.spoor;

/**
 * A call into libspoor failed: {@link #code()} is the negative status of {@code include/spoor.h}
 * ({@code SPOOR_E_*}) and {@link #detail()} the library's description of this failure
 * ({@code spoor_error_detail()}), naming the field, size or state at fault.
 */
public final class SpoorException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** SPOOR_E_INVALID_ARGUMENT. */
    public static final int INVALID_ARGUMENT = -1;
    /** SPOOR_E_NOT_INITIALIZED. */
    public static final int NOT_INITIALIZED = -2;
    /** SPOOR_E_ALREADY_INITIALIZED. */
    public static final int ALREADY_INITIALIZED = -3;
    /** SPOOR_E_ABI_MISMATCH. */
    public static final int ABI_MISMATCH = -4;
    /** SPOOR_E_INVALID_CONFIG. */
    public static final int INVALID_CONFIG = -5;
    /** SPOOR_E_SHM. */
    public static final int SHM = -6;
    /** SPOOR_E_TOO_MANY_PARENTS. */
    public static final int TOO_MANY_PARENTS = -7;
    /** SPOOR_E_ATTACHMENT_TOO_LARGE. */
    public static final int ATTACHMENT_TOO_LARGE = -8;
    /** SPOOR_E_REPORT_TOO_LARGE. */
    public static final int REPORT_TOO_LARGE = -9;
    /** SPOOR_E_TOO_MANY_OPERATORS. */
    public static final int TOO_MANY_OPERATORS = -10;
    /** SPOOR_E_BUFFER_TOO_SMALL. */
    public static final int BUFFER_TOO_SMALL = -11;
    /** SPOOR_E_PARSE. */
    public static final int PARSE = -12;
    /** SPOOR_E_IO. */
    public static final int IO = -13;
    /** SPOOR_E_TIMEOUT. */
    public static final int TIMEOUT = -14;
    /** SPOOR_E_NO_MEMORY. */
    public static final int NO_MEMORY = -15;

    private final int code;
    private final String detail;

    /**
     * Made by the native layer.
     *
     * @param code the status code
     * @param detail the library's detail message
     */
    public SpoorException(int code, String detail) {
        super(detail == null || detail.isEmpty() ? "spoor error " + code : detail + " (" + Native.strerror(code) + ")");
        this.code = code;
        this.detail = detail == null ? "" : detail;
    }

    /** @return the negative status code ({@code SPOOR_E_*}) */
    public int code() {
        return code;
    }

    /** @return the library's description of this failure */
    public String detail() {
        return detail;
    }
}
