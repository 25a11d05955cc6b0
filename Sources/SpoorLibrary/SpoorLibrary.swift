// The dynamic library product: it links SpoorRuntime, whose `@c @implementation` functions are
// the exported C ABI of include/spoor.h. Nothing else is defined here.
@_exported import SpoorRuntime
