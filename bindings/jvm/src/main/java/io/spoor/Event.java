package io.spoor;

/** Engine events a record can be poked with ({@code spoor_event}); {@link #code()} is the wire code. */
public enum Event {
    /** Before a shuffle. */
    SHUFFLE_WRITE(1),
    /** After a shuffle. */
    SHUFFLE_READ(2),
    /** Serialised. */
    SERIALIZE(3),
    /** Deserialised. */
    DESERIALIZE(4),
    /** Entered a buffer. */
    BUFFER_ENTER(5),
    /** Left a buffer. */
    BUFFER_LEAVE(6),
    /** Sent over the network. */
    NETWORK_SEND(7),
    /** Received from the network. */
    NETWORK_RECEIVE(8),
    /** Removed by a filter: it has no output. */
    FILTERED(9),
    /** Left the traced topology. */
    EXIT(10),
    /** User code failed on the record. */
    ERROR(11);

    /** The first code free for engine-specific events (up to 65535). */
    public static final int CUSTOM = 1000;

    private final int code;

    Event(int code) {
        this.code = code;
    }

    /** @return the event's code in reports */
    public int code() {
        return code;
    }
}
