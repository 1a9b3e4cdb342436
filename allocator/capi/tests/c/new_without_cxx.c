// operator new in a program with no C++ runtime loaded. Strata's operator new
// throws std::bad_alloc through the C++ runtime; with none to throw it, a
// request it cannot meet must stop the process with one clear report rather
// than return null, which a caller of the throwing form never checks.
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

typedef void *(*operator_new)(unsigned long);

int main(void) {
    // Only a preloaded strata defines the symbol in this program.
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
