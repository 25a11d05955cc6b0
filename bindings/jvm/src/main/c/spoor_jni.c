/*
 * spoor_jni.c - the JNI layer of io.spoor: one C function per native method of io.spoor.Native,
 * each a thin call of include/spoor.h (whose inline fast paths are compiled in here).
 *
 * Conventions:
 *   - Ids, key hashes and times are Java longs holding the uint64 bits; operators and events
 *     are ints holding uint32 bits.
 *   - A negative status throws io.spoor.SpoorException(code, detail) from here, with the
 *     library's spoor_error_detail(); the hot calls pay nothing for it until they fail. A
 *     dropped report is not an error (SPOOR_DROPPED): a checkpoint returns its id all the same.
 *   - Arrays are copied onto the stack (attachments, up to 256 parents) or, for longer parent
 *     arrays and key bytes, read in place with GetPrimitiveArrayCritical and released before any
 *     other JNI call; nothing is allocated on the hot paths. Text arrives as UTF-8 byte arrays (Java encodes it), never as modified
 *     UTF-8.
 *   - A partitioner (spoor_partitioner_*) is a Java long holding the pointer; io.spoor.Partitioner
 *     frees it once, from its Cleaner, when no Java code can reach it any more, so no call here
 *     ever sees a freed one.
 *   - An attachment arrives encoded as in the log: [u8 key length][u16 value length, little
 *     endian][key][value]..., built by io.spoor.Attachment; it is decoded here into spoor_attr
 *     pointing into the pinned array.
 * Built with gcc against the JDK's jni.h; links libspoor.so.0 (found through $ORIGIN).
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoor.h"

static jclass exception_class;      /* io.spoor.SpoorException, a global reference */
static jmethodID exception_init;    /* SpoorException(int code, String detail) */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
    jclass local = (*env)->FindClass(env, "io/spoor/SpoorException");
    if (local == NULL) return JNI_ERR;
    exception_class = (*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    exception_init = (*env)->GetMethodID(env, exception_class, "<init>", "(ILjava/lang/String;)V");
    if (exception_class == NULL || exception_init == NULL) return JNI_ERR;
    return JNI_VERSION_1_8;
}

/* Throws SpoorException(code, detail). Returns 0 so callers can `return fail(...)`. */
static jlong throw_detail(JNIEnv *env, int code, const char *detail) {
    if ((*env)->ExceptionCheck(env)) return 0;
    jstring text = (*env)->NewStringUTF(env, detail != NULL ? detail : "");
    if (text == NULL) return 0;
    jobject error = (*env)->NewObject(env, exception_class, exception_init, (jint)code, text);
    if (error != NULL) (*env)->Throw(env, (jthrowable)error);
    return 0;
}

static jlong fail(JNIEnv *env, int code) {
    return throw_detail(env, code, spoor_error_detail());
}

/* A UTF-8 byte array as a NUL-terminated C string in `buffer` (capacity bytes). Returns 0, or
 * throws and returns -1. */
static int c_string(JNIEnv *env, jbyteArray bytes, char *buffer, size_t capacity, const char *what) {
    jsize length = (*env)->GetArrayLength(env, bytes);
    if ((size_t)length >= capacity) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s is %d bytes (at most %zu)", what, (int)length, capacity - 1);
        throw_detail(env, SPOOR_E_INVALID_ARGUMENT, detail);
        return -1;
    }
    (*env)->GetByteArrayRegion(env, bytes, 0, length, (jbyte *)buffer);
    buffer[length] = 0;
    if (strlen(buffer) != (size_t)length) {
        char detail[64];
        snprintf(detail, sizeof detail, "%s contains a NUL character", what);
        throw_detail(env, SPOOR_E_INVALID_ARGUMENT, detail);
        return -1;
    }
    return 0;
}

/* ---- attachments ------------------------------------------------------------------------- */

#define MAX_ATTRS (SPOOR_MAX_ATTACHMENT / 4 + 1)

/* Decodes the encoded attachment `data` (`length` bytes) into `attrs`. Returns the pair count,
 * or -1 if the encoding is malformed (Attachment never makes one). */
static long decode_attrs(const uint8_t *data, size_t length, spoor_attr *attrs) {
    size_t offset = 0, count = 0;
    while (offset < length) {
        if (count == MAX_ATTRS || length - offset < 3) return -1;
        size_t key_len = data[offset];
        size_t value_len = (size_t)data[offset + 1] | ((size_t)data[offset + 2] << 8);
        offset += 3;
        if (key_len > length - offset || value_len > length - offset - key_len) return -1;
        attrs[count].key = (const char *)data + offset;
        attrs[count].key_len = key_len;
        attrs[count].value = data + offset + key_len;
        attrs[count].value_len = value_len;
        offset += key_len + value_len;
        count++;
    }
    return (long)count;
}

#define PARENTS_COPIED 256

/* Copies the encoded attachment out of `array` into `buffer` (SPOOR_MAX_ATTACHMENT * 4 bytes)
 * and decodes it into `attrs`. Returns 0, or throws and returns -1. */
static int read_attrs(JNIEnv *env, jbyteArray array, uint8_t *buffer, spoor_attr *attrs, size_t *count) {
    jsize length = (*env)->GetArrayLength(env, array);
    if ((size_t)length > SPOOR_MAX_ATTACHMENT * 4) {
        char detail[96];
        snprintf(detail, sizeof detail, "an attachment of %d encoded bytes cannot fit in %u", (int)length, SPOOR_MAX_ATTACHMENT);
        throw_detail(env, SPOOR_E_ATTACHMENT_TOO_LARGE, detail);
        return -1;
    }
    (*env)->GetByteArrayRegion(env, array, 0, length, (jbyte *)buffer);
    long n = decode_attrs(buffer, (size_t)length, attrs);
    if (n < 0) {
        throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "a malformed attachment encoding");
        return -1;
    }
    *count = (size_t)n;
    return 0;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

JNIEXPORT jint JNICALL Java_io_spoor_Native_init(
    JNIEnv *env, jclass cls, jbyteArray log_dir, jbyteArray shm_name, jint ring_slots, jint max_threads,
    jint flush_ms, jint policy, jint block_ms, jint sink, jlong segment_bytes, jlong seed, jint mode,
    jdouble probability, jlong every_n, jlong per_second, jboolean ignore_env) {
    (void)cls;
    char dir[4096], shm[256];
    spoor_config config;
    memset(&config, 0, sizeof config);
    if (log_dir != NULL) {
        if (c_string(env, log_dir, dir, sizeof dir, "logDir") != 0) return 0;
        config.log_dir = dir;
    }
    if (shm_name != NULL) {
        if (c_string(env, shm_name, shm, sizeof shm, "shmName") != 0) return 0;
        config.shm_name = shm;
    }
    config.ring_slots = (uint32_t)ring_slots;
    config.max_threads = (uint32_t)max_threads;
    config.flush_interval_ms = (uint32_t)flush_ms;
    config.full_policy = (uint32_t)policy;
    config.block_timeout_ms = (uint32_t)block_ms;
    config.sink = (uint32_t)sink;
    config.segment_bytes = (uint64_t)segment_bytes;
    config.seed = (uint64_t)seed;
    config.sampling.mode = (uint32_t)mode;
    config.sampling.probability = probability;
    config.sampling.every_n = (uint64_t)every_n;
    config.sampling.per_second = (uint64_t)per_second;
    config.flags = ignore_env ? SPOOR_CONFIG_IGNORE_ENV : 0;
    int status = spoor_init(&config);
    if (status != SPOOR_OK) fail(env, status);
    return status;
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_shutdown(JNIEnv *env, jclass cls) {
    (void)cls;
    int status = spoor_shutdown();
    if (status != SPOOR_OK) fail(env, status);
    return status;
}

JNIEXPORT void JNICALL Java_io_spoor_Native_flush(JNIEnv *env, jclass cls, jint timeout_ms) {
    (void)cls;
    int status = spoor_flush((uint32_t)timeout_ms);
    if (status != SPOOR_OK) fail(env, status);
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_generation(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jlong)spoor_generation();
}

static jstring path_string(JNIEnv *env, int (*get)(char *, size_t)) {
    char buffer[4096];
    int length = get(buffer, sizeof buffer);
    if (length < 0) {
        fail(env, length);
        return NULL;
    }
    return (*env)->NewStringUTF(env, buffer);
}

JNIEXPORT jstring JNICALL Java_io_spoor_Native_runDir(JNIEnv *env, jclass cls) {
    (void)cls;
    return path_string(env, spoor_run_dir);
}

JNIEXPORT jstring JNICALL Java_io_spoor_Native_shmName(JNIEnv *env, jclass cls) {
    (void)cls;
    return path_string(env, spoor_shm_name);
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_registerOperator(JNIEnv *env, jclass cls, jbyteArray name, jbyteArray site) {
    (void)cls;
    if (name == NULL) return (jint)throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the operator name is null");
    jsize name_len = (*env)->GetArrayLength(env, name);
    jsize site_len = site != NULL ? (*env)->GetArrayLength(env, site) : 0;
    char name_bytes[SPOOR_MAX_NAME_LEN + 1];
    if ((size_t)name_len > SPOOR_MAX_NAME_LEN || name_len == 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "an operator name must be 1 to %u bytes (got %d)", SPOOR_MAX_NAME_LEN, (int)name_len);
        return (jint)throw_detail(env, SPOOR_E_INVALID_ARGUMENT, detail);
    }
    (*env)->GetByteArrayRegion(env, name, 0, name_len, (jbyte *)name_bytes);
    /* A longer call site keeps its last bytes (the library's rule); copy only those. */
    char site_bytes[SPOOR_MAX_NAME_LEN];
    jsize kept = site_len > (jsize)SPOOR_MAX_NAME_LEN ? (jsize)SPOOR_MAX_NAME_LEN : site_len;
    if (kept > 0) (*env)->GetByteArrayRegion(env, site, site_len - kept, kept, (jbyte *)site_bytes);
    uint32_t op = 0;
    int status = spoor_register_operator(name_bytes, (size_t)name_len, site_bytes, (size_t)kept, &op);
    if (status != SPOOR_OK) return (jint)fail(env, status);
    return (jint)op;
}

/* ---- reports ----------------------------------------------------------------------------- */

JNIEXPORT jlong JNICALL Java_io_spoor_Native_entry(JNIEnv *env, jclass cls, jint op, jlong key) {
    (void)cls;
    uint64_t id;
    int status = spoor_entry((uint32_t)op, (uint64_t)key, &id);
    if (SPOOR_UNLIKELY(status < 0)) return fail(env, status);
    return (jlong)id;
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_entrySkip(JNIEnv *env, jclass cls, jlong max) {
    (void)env;
    (void)cls;
    return max <= 0 ? 0 : (jlong)spoor_entry_skip((uint64_t)max);
}

/* An entry with an encoded attachment (NULL: none) through `report`: spoor_entry_ex (sampled) or
 * spoor_mint (always traced). */
static jlong entry_with(JNIEnv *env, int (*report)(uint32_t, uint64_t, const spoor_attr *, size_t, uint64_t *),
                        jint op, jlong key, jbyteArray attachment) {
    spoor_attr attrs[MAX_ATTRS];
    uint8_t buffer[SPOOR_MAX_ATTACHMENT * 4];
    size_t n = 0;
    if (attachment != NULL && read_attrs(env, attachment, buffer, attrs, &n) != 0) return 0;
    uint64_t id;
    int status = report((uint32_t)op, (uint64_t)key, n > 0 ? attrs : NULL, n, &id);
    if (status < 0) return fail(env, status);
    return (jlong)id;
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_entryEx(JNIEnv *env, jclass cls, jint op, jlong key, jbyteArray attachment) {
    (void)cls;
    return entry_with(env, spoor_entry_ex, op, key, attachment);
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_mint(JNIEnv *env, jclass cls, jint op, jlong key, jbyteArray attachment) {
    (void)cls;
    return entry_with(env, spoor_mint, op, key, attachment);
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_checkpoint1(
    JNIEnv *env, jclass cls, jlong parent, jint op, jlong key, jlong start_ns, jlong end_ns) {
    (void)cls;
    uint64_t id;
    int status = spoor_checkpoint1((uint64_t)parent, (uint32_t)op, (uint64_t)key, (uint64_t)start_ns, (uint64_t)end_ns, &id);
    if (SPOOR_UNLIKELY(status < 0)) return fail(env, status);
    return (jlong)id;
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_checkpoint2(
    JNIEnv *env, jclass cls, jlong first, jlong second, jint op, jlong key, jlong start_ns, jlong end_ns) {
    (void)cls;
    uint64_t parents[2] = {(uint64_t)first, (uint64_t)second}, id;
    spoor_report_info info;
    memset(&info, 0, sizeof info);
    info.op = (uint32_t)op;
    info.key_hash = (uint64_t)key;
    info.start_ns = (uint64_t)start_ns;
    info.end_ns = (uint64_t)end_ns;
    int status = spoor_checkpoint(parents, 2, &info, &id);
    if (SPOOR_UNLIKELY(status < 0)) return fail(env, status);
    return (jlong)id;
}

/* checkpointN(parents, offset, count, op, key, start, end, fanout, attachment, fold) */
JNIEXPORT jlong JNICALL Java_io_spoor_Native_checkpointN(
    JNIEnv *env, jclass cls, jlongArray parents, jint offset, jint count, jint op, jlong key, jlong start_ns,
    jlong end_ns, jint fanout, jbyteArray attachment, jboolean fold) {
    (void)cls;
    if (parents == NULL) return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "parents is null");
    jsize length = (*env)->GetArrayLength(env, parents);
    if (offset < 0 || count < 0 || offset > length || count > length - offset) {
        char detail[128];
        snprintf(detail, sizeof detail, "parents[%d, %d + %d) is outside an array of %d", (int)offset, (int)offset, (int)count, (int)length);
        return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, detail);
    }
    if ((uint64_t)count > SPOOR_MAX_PARENTS) {
        char detail[96];
        snprintf(detail, sizeof detail, "%d parents exceed the limit of %u", (int)count, SPOOR_MAX_PARENTS);
        return throw_detail(env, SPOOR_E_TOO_MANY_PARENTS, detail);
    }
    if (count == 0) return 0;
    spoor_attr attrs[MAX_ATTRS];
    uint8_t attach[SPOOR_MAX_ATTACHMENT * 4];
    spoor_report_info info;
    memset(&info, 0, sizeof info);
    info.op = (uint32_t)op;
    info.key_hash = (uint64_t)key;
    info.start_ns = (uint64_t)start_ns;
    info.end_ns = (uint64_t)end_ns;
    info.fanout = (uint32_t)fanout;
    if (attachment != NULL && read_attrs(env, attachment, attach, attrs, &info.n_attrs) != 0) return 0;
    info.attrs = info.n_attrs > 0 ? attrs : NULL;
    /* Up to PARENTS_COPIED parents are copied out; a longer array is read in place (a critical
     * region, held while the report is written: under SPOOR_FULL_BLOCK that may include the
     * wait for the collector, during which this thread holds off the garbage collector). */
    uint64_t copied[PARENTS_COPIED];
    jlong *pinned = NULL;
    const uint64_t *list;
    if (count <= (jint)PARENTS_COPIED) {
        (*env)->GetLongArrayRegion(env, parents, offset, count, (jlong *)copied);
        list = copied;
    } else {
        pinned = (*env)->GetPrimitiveArrayCritical(env, parents, NULL);
        if (pinned == NULL) return 0; /* OutOfMemoryError pending */
        list = (const uint64_t *)(pinned + offset);
    }
    uint64_t id = 0;
    int status = fold ? spoor_fold_report(list, (size_t)count, &info, &id) : spoor_checkpoint(list, (size_t)count, &info, &id);
    char copy[256];
    copy[0] = 0;
    if (status < 0) snprintf(copy, sizeof copy, "%s", spoor_error_detail());
    if (pinned != NULL) (*env)->ReleasePrimitiveArrayCritical(env, parents, pinned, JNI_ABORT);
    if (status < 0) return throw_detail(env, status, copy);
    return (jlong)id;
}

JNIEXPORT void JNICALL Java_io_spoor_Native_poke(
    JNIEnv *env, jclass cls, jlong id, jint op, jint event, jlong timestamp, jbyteArray attachment) {
    (void)cls;
    int status;
    if (attachment == NULL) {
        status = spoor_poke((uint64_t)id, (uint32_t)op, (uint32_t)event, (uint64_t)timestamp);
    } else {
        spoor_attr attrs[MAX_ATTRS];
        uint8_t buffer[SPOOR_MAX_ATTACHMENT * 4];
        size_t n = 0;
        if (read_attrs(env, attachment, buffer, attrs, &n) != 0) return;
        status = spoor_poke_ex((uint64_t)id, (uint32_t)op, (uint32_t)event, (uint64_t)timestamp, attrs, n);
    }
    if (status < 0) fail(env, status);
}

JNIEXPORT void JNICALL Java_io_spoor_Native_setPartition(JNIEnv *env, jclass cls, jint partition) {
    (void)env;
    (void)cls;
    spoor_set_partition((uint32_t)partition);
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_now(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jlong)spoor_now();
}

/* The binding's bare crossing: entry()'s arguments and an id-sized result, no library call. */
JNIEXPORT jlong JNICALL Java_io_spoor_Native_noop(JNIEnv *env, jclass cls, jint op, jlong key) {
    (void)env;
    (void)cls;
    return (jlong)(((uint64_t)key ^ (uint32_t)op) | ((uint64_t)1 << 63));
}

/* ---- sampling, statistics, contexts, keys ------------------------------------------------ */

JNIEXPORT void JNICALL Java_io_spoor_Native_setSampling(JNIEnv *env, jclass cls, jint mode, jdouble probability, jlong every_n, jlong per_second) {
    (void)cls;
    spoor_sampling sampling;
    memset(&sampling, 0, sizeof sampling);
    sampling.mode = (uint32_t)mode;
    sampling.probability = probability;
    sampling.every_n = (uint64_t)every_n;
    sampling.per_second = (uint64_t)per_second;
    int status = spoor_set_sampling(&sampling);
    if (status != SPOOR_OK) fail(env, status);
}

/* getSampling(out double[4]): mode, probability, every_n, per_second */
JNIEXPORT void JNICALL Java_io_spoor_Native_getSampling(JNIEnv *env, jclass cls, jdoubleArray out) {
    (void)cls;
    if (out == NULL || (*env)->GetArrayLength(env, out) < 4) {
        throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the output array is null or too short");
        return;
    }
    spoor_sampling sampling;
    int status = spoor_get_sampling(&sampling);
    if (status != SPOOR_OK) {
        fail(env, status);
        return;
    }
    jdouble values[4] = {(jdouble)sampling.mode, sampling.probability, (jdouble)sampling.every_n, (jdouble)sampling.per_second};
    (*env)->SetDoubleArrayRegion(env, out, 0, 4, values);
}

JNIEXPORT void JNICALL Java_io_spoor_Native_stats(JNIEnv *env, jclass cls, jlongArray out, jboolean thread) {
    (void)cls;
    if (out == NULL || (*env)->GetArrayLength(env, out) < 8) {
        throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the output array is null or too short");
        return;
    }
    spoor_stats stats;
    int status = thread ? spoor_get_thread_stats(&stats) : spoor_get_stats(&stats);
    if (status != SPOOR_OK) {
        fail(env, status);
        return;
    }
    jlong values[8] = {(jlong)stats.written, (jlong)stats.committed, (jlong)stats.dropped, (jlong)stats.sampled,
                       (jlong)stats.drained, (jlong)stats.sink_errors, (jlong)stats.batches, (jlong)stats.threads};
    (*env)->SetLongArrayRegion(env, out, 0, 8, values);
}

JNIEXPORT jstring JNICALL Java_io_spoor_Native_contextEncode(JNIEnv *env, jclass cls, jlong id, jint flags) {
    (void)cls;
    char buffer[SPOOR_CONTEXT_STRING_LEN + 1];
    int length = spoor_context_encode((uint64_t)id, (uint32_t)flags, buffer, sizeof buffer);
    if (length < 0) {
        fail(env, length);
        return NULL;
    }
    return (*env)->NewStringUTF(env, buffer);
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_contextDecode(JNIEnv *env, jclass cls, jbyteArray text) {
    (void)cls;
    if (text == NULL) return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the context is null");
    jsize length = (*env)->GetArrayLength(env, text);
    char buffer[64];
    if (length > (jsize)sizeof buffer) return throw_detail(env, SPOOR_E_PARSE, "a context string is 22 characters");
    (*env)->GetByteArrayRegion(env, text, 0, length, (jbyte *)buffer);
    uint64_t id;
    uint32_t flags;
    int status = spoor_context_decode(buffer, (size_t)length, &id, &flags);
    if (status != SPOOR_OK) return fail(env, status);
    return (jlong)id;
}

JNIEXPORT jbyteArray JNICALL Java_io_spoor_Native_contextEncodeBytes(JNIEnv *env, jclass cls, jlong id, jint flags) {
    (void)cls;
    uint8_t buffer[SPOOR_CONTEXT_BYTES_LEN];
    int length = spoor_context_encode_bytes((uint64_t)id, (uint32_t)flags, buffer, sizeof buffer);
    if (length < 0) {
        fail(env, length);
        return NULL;
    }
    jbyteArray result = (*env)->NewByteArray(env, length);
    if (result != NULL) (*env)->SetByteArrayRegion(env, result, 0, length, (const jbyte *)buffer);
    return result;
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_contextDecodeBytes(JNIEnv *env, jclass cls, jbyteArray data) {
    (void)cls;
    if (data == NULL) return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the context is null");
    jsize length = (*env)->GetArrayLength(env, data);
    uint8_t buffer[64];
    if (length > (jsize)sizeof buffer) return throw_detail(env, SPOOR_E_PARSE, "a binary context is 10 bytes");
    (*env)->GetByteArrayRegion(env, data, 0, length, (jbyte *)buffer);
    uint64_t id;
    uint32_t flags;
    int status = spoor_context_decode_bytes(buffer, (size_t)length, &id, &flags);
    if (status != SPOOR_OK) return fail(env, status);
    return (jlong)id;
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_hashBytes(JNIEnv *env, jclass cls, jbyteArray data, jint offset, jint length) {
    (void)cls;
    if (data == NULL) return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the key bytes are null");
    jsize size = (*env)->GetArrayLength(env, data);
    if (offset < 0 || length < 0 || offset > size || length > size - offset) {
        return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the byte range is outside the array");
    }
    jbyte *bytes = (*env)->GetPrimitiveArrayCritical(env, data, NULL);
    if (bytes == NULL) return 0;
    uint64_t hash = spoor_hash_bytes(bytes + offset, (size_t)length);
    (*env)->ReleasePrimitiveArrayCritical(env, data, bytes, JNI_ABORT);
    return (jlong)hash;
}

JNIEXPORT jlong JNICALL Java_io_spoor_Native_hashLong(JNIEnv *env, jclass cls, jlong value) {
    (void)env;
    (void)cls;
    return (jlong)spoor_hash_u64((uint64_t)value);
}

JNIEXPORT jboolean JNICALL Java_io_spoor_Native_keySampled(JNIEnv *env, jclass cls, jlong key, jdouble probability) {
    (void)env;
    (void)cls;
    return spoor_key_sampled((uint64_t)key, probability) ? JNI_TRUE : JNI_FALSE;
}

/* ---- partitioners ------------------------------------------------------------------------ */

/* partitionerLoad(json): a new partitioner's pointer. The bytes are copied out of the array
 * (the loader parses and allocates: no critical region held over it) and not retained. */
JNIEXPORT jlong JNICALL Java_io_spoor_Native_partitionerLoad(JNIEnv *env, jclass cls, jbyteArray json) {
    (void)cls;
    if (json == NULL) return throw_detail(env, SPOOR_E_INVALID_ARGUMENT, "the partitioner file is null");
    jsize length = (*env)->GetArrayLength(env, json);
    uint8_t *bytes = malloc(length > 0 ? (size_t)length : 1);
    if (bytes == NULL) {
        char detail[96];
        snprintf(detail, sizeof detail, "no memory for a copy of a %d-byte partitioner file", (int)length);
        return throw_detail(env, SPOOR_E_NO_MEMORY, detail);
    }
    (*env)->GetByteArrayRegion(env, json, 0, length, (jbyte *)bytes);
    spoor_partitioner *partitioner = NULL;
    int status = spoor_partitioner_load(bytes, (size_t)length, &partitioner);
    free(bytes);
    if (status != SPOOR_OK) return fail(env, status);
    return (jlong)(intptr_t)partitioner;
}

JNIEXPORT void JNICALL Java_io_spoor_Native_partitionerFree(JNIEnv *env, jclass cls, jlong handle) {
    (void)env;
    (void)cls;
    spoor_partitioner_free((spoor_partitioner *)(intptr_t)handle);
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_partitionerPartitions(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    int partitions = spoor_partitioner_partitions((const spoor_partitioner *)(intptr_t)handle);
    if (partitions < 0) return (jint)fail(env, partitions);
    return partitions;
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_partitionerKeys(JNIEnv *env, jclass cls, jlong handle) {
    (void)cls;
    int keys = spoor_partitioner_keys((const spoor_partitioner *)(intptr_t)handle);
    if (keys < 0) return (jint)fail(env, keys);
    return keys;
}

/* The per-record call of a shuffle: one table probe, nothing allocated. */
JNIEXPORT jint JNICALL Java_io_spoor_Native_partitionerPartition(JNIEnv *env, jclass cls, jlong handle, jlong key_hash) {
    (void)cls;
    int partition = spoor_partitioner_partition((const spoor_partitioner *)(intptr_t)handle, (uint64_t)key_hash);
    if (SPOOR_UNLIKELY(partition < 0)) return (jint)fail(env, partition);
    return partition;
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_partitionerSalts(JNIEnv *env, jclass cls, jlong handle, jlong key_hash) {
    (void)cls;
    int salts = spoor_partitioner_salts((const spoor_partitioner *)(intptr_t)handle, (uint64_t)key_hash);
    if (SPOOR_UNLIKELY(salts < 0)) return (jint)fail(env, salts);
    return salts;
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_recoverDead(JNIEnv *env, jclass cls, jbyteArray root) {
    (void)cls;
    char buffer[4096];
    if (root != NULL && c_string(env, root, buffer, sizeof buffer, "logDir") != 0) return 0;
    int segments = spoor_recover_dead(root != NULL ? buffer : NULL, root != NULL ? strlen(buffer) : 0, NULL);
    if (segments < 0) return (jint)fail(env, segments);
    return segments;
}

JNIEXPORT jstring JNICALL Java_io_spoor_Native_strerror(JNIEnv *env, jclass cls, jint code) {
    (void)cls;
    return (*env)->NewStringUTF(env, spoor_strerror(code));
}

JNIEXPORT jstring JNICALL Java_io_spoor_Native_eventName(JNIEnv *env, jclass cls, jint event) {
    (void)cls;
    return (*env)->NewStringUTF(env, spoor_event_name((uint32_t)event));
}

JNIEXPORT jstring JNICALL Java_io_spoor_Native_version(JNIEnv *env, jclass cls) {
    (void)cls;
    return (*env)->NewStringUTF(env, spoor_version());
}

JNIEXPORT jint JNICALL Java_io_spoor_Native_abiVersion(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return (jint)spoor_abi_version();
}
