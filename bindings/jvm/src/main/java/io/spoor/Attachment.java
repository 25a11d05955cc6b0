package io.spoor;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * An attachment: small metadata about a UDF call, key/value pairs encoded once into the form the
 * log keeps ({@code [u8 key length][u16 value length][key][value]...}) and handed to the native
 * layer as one byte array. Keys are 1 to 255 bytes of UTF-8; the whole encoding at most
 * {@link Spoor#MAX_ATTACHMENT} bytes. Immutable once built; reuse one for many reports.
 */
public final class Attachment {
    final byte[] encoded;

    private Attachment(byte[] encoded) {
        this.encoded = encoded;
    }

    /** @return a builder of pairs */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @param pairs keys to values (a value's {@code toString()}; byte[] values as themselves)
     * @return the attachment of these pairs, in the map's order
     */
    public static Attachment of(Map<String, ?> pairs) {
        Builder builder = builder();
        for (Map.Entry<String, ?> entry : pairs.entrySet()) {
            Object value = entry.getValue();
            if (value instanceof byte[] bytes) {
                builder.put(entry.getKey(), bytes);
            } else {
                builder.put(entry.getKey(), String.valueOf(value));
            }
        }
        return builder.build();
    }

    /** @return the encoded size in bytes */
    public int size() {
        return encoded.length;
    }

    /** Collects pairs for an {@link Attachment}. */
    public static final class Builder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        private Builder() {}

        /**
         * @param key 1 to 255 bytes of UTF-8
         * @param value any text
         * @return this builder
         */
        public Builder put(String key, String value) {
            return put(key, value.getBytes(StandardCharsets.UTF_8));
        }

        /**
         * @param key 1 to 255 bytes of UTF-8
         * @param value any bytes, at most the attachment's limit
         * @return this builder
         */
        public Builder put(String key, byte[] value) {
            byte[] keyBytes = key.getBytes(StandardCharsets.UTF_8);
            if (keyBytes.length == 0 || keyBytes.length > 255) {
                throw new SpoorException(SpoorException.INVALID_ARGUMENT,
                        "an attachment key must be 1 to 255 bytes (got " + keyBytes.length + ")");
            }
            if (value.length > 0xffff || out.size() + 3 + keyBytes.length + value.length > Spoor.MAX_ATTACHMENT) {
                throw new SpoorException(SpoorException.ATTACHMENT_TOO_LARGE, "the attachment exceeds "
                        + Spoor.MAX_ATTACHMENT + " bytes with key '" + key + "' (" + value.length + " value bytes)");
            }
            out.write(keyBytes.length);
            out.write(value.length & 0xff);
            out.write(value.length >>> 8);
            out.writeBytes(keyBytes);
            out.writeBytes(value);
            return this;
        }

        /** @return the attachment */
        public Attachment build() {
            return new Attachment(out.toByteArray());
        }
    }
}
