/* SpoorABI is the public contract, include/spoor.h, as a module for Swift code that links
 * libspoor.so (the Swift binding in bindings/swift). It defines nothing: every symbol the
 * header declares is exported by libspoor.so. (A C target needs one source file.) */
#include "spoor.h"
