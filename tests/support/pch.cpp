// Compiles the precompiled header every test binary reuses (CMake: wq_test_pch). Empty.
