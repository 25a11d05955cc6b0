#include "spoor_swift_support.h"
