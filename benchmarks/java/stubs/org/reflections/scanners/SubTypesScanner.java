// Compile-time stand-in (see org/reflections/Reflections.java).
package org.reflections.scanners;

public class SubTypesScanner {
}
