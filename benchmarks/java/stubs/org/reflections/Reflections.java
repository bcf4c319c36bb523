// Compile-time stand-in for the org.reflections library (not on these machines,
// and its registry unreachable): fossgalaxy/hanabi's agent finder and rule list
// mention it, but the four agents this benchmark builds by their factories never
// call it. Every method refuses, so a path that does reach it fails loudly.
package org.reflections;

import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.util.Set;

public class Reflections {
    public Reflections(Object configuration) {
        throw new UnsupportedOperationException("org.reflections is a stand-in here");
    }

    public <T> Set<Class<? extends T>> getSubTypesOf(Class<T> type) {
        throw new UnsupportedOperationException("org.reflections is a stand-in here");
    }

    public Set<Method> getMethodsAnnotatedWith(Class<? extends Annotation> annotation) {
        throw new UnsupportedOperationException("org.reflections is a stand-in here");
    }
}
