#ifndef GITML_CGIT2_SHIM_H
#define GITML_CGIT2_SHIM_H
#include <git2.h>
#endif
