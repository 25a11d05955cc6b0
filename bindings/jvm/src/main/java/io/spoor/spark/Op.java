package io.spoor.spark;

import io.spoor.Spoor;
import java.io.Serializable;

/** An operator by name and call site, resolved to its id in each JVM (ids belong to a run). */
final class Op implements Serializable {
    private static final long serialVersionUID = 1L;
    final String name;
    final String site;
    private transient int id;

    Op(String name, String site) {
        this.name = name.length() > 252 ? name.substring(0, 252) : name;
        this.site = site;
    }

    int id() {
        if (id == 0) {
            id = Spoor.operator(name, site);
        }
        return id;
    }

    /** The operator of a call of `kind` made by the user's code: named after the calling class and line. */
    static Op of(String kind) {
        StackWalker.StackFrame caller = StackWalker.getInstance().walk(frames -> frames
                .filter(frame -> !frame.getClassName().startsWith("io.spoor.spark.")).findFirst().orElse(null));
        if (caller == null) {
            return new Op(kind, kind);
        }
        return new Op(kind + ":" + caller.getClassName(), caller.getFileName() + ":" + caller.getLineNumber());
    }
}
