// Compile-time stand-in (see org/reflections/Reflections.java).
package org.reflections.util;

import java.net.URL;
import java.util.Collection;

public class ConfigurationBuilder {
    public ConfigurationBuilder setUrls(Collection<URL> urls) {
        return this;
    }

    public ConfigurationBuilder setScanners(Object... scanners) {
        return this;
    }

    public ConfigurationBuilder setExpandSuperTypes(boolean expand) {
        return this;
    }
}
