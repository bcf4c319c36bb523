// Compile-time stand-in (see org/reflections/Reflections.java).
package org.reflections.util;

import java.net.URL;
import java.util.Collection;

public final class ClasspathHelper {
    private ClasspathHelper() {}

    public static Collection<URL> forJavaClassPath() {
        throw new UnsupportedOperationException("org.reflections is a stand-in here");
    }
}
