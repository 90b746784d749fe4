# Included by the top CMakeLists.txt before any target when ANYLB_FUZZ is on: every library is
# built with libFuzzer's coverage instrumentation and ASan + UBSan, so a fuzz target sees (and
# traps in) the product code it calls, not only its own file. UBSan does not recover: undefined
# behaviour is a crash to libFuzzer.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
	message(FATAL_ERROR "ANYLB_FUZZ needs clang: configure with CC=clang (scripts/fuzz.sh does)")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)
