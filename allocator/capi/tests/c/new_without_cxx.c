// operator new in a program that starts with no C++ runtime, as CPython does.
//
//   (no argument)  no runtime at all: strata has nothing to throw
//                  std::bad_alloc with, so a request it cannot meet must stop
//                  the process with one clear report rather than return null,
//                  which a caller of the throwing form never checks
//   dlopen-handler libstdc++ loaded later with dlopen(RTLD_LOCAL), as a C++
//                  extension module brings it: the new-handler it installs is
//                  called
//   dlopen-throw   the same with no handler: std::bad_alloc is thrown (and,
//                  with no C++ frame to catch it, ends in std::terminate)
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef void *(*operator_new)(unsigned long);
typedef void (*new_handler)(void);
typedef new_handler (*set_new_handler)(new_handler);

static void handler(void) {
    static const char message[] = "new-handler called\n";
    write(1, message, sizeof message - 1);
    _exit(0);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strncmp(mode, "dlopen-", 7)) {
        void *runtime = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
        if (!runtime) {
            printf("cannot load libstdc++.so.6: %s\n", dlerror());
            return 3;
        }
        if (!strcmp(mode, "dlopen-handler")) {
            set_new_handler set = (set_new_handler)dlsym(runtime, "_ZSt15set_new_handlerPFvvE");
            if (!set) {
                puts("no std::set_new_handler");
                return 3;
            }
            set(handler);
        }
    }
    // Only a preloaded strata defines the symbol in the global scope here.
    operator_new new_ = (operator_new)dlsym(RTLD_DEFAULT, "_Znwm");
    if (!new_) {
        puts("no operator new in this process");
        return 2;
    }
    char *small = new_(64);
    small[63] = 1;
    printf("small block at %p\n", (void *)small);
    fflush(stdout);
    void *huge = new_(SIZE_MAX / 4);
    printf("operator new returned %p\n", huge);
    return 0;
}
