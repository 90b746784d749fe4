# Turns a file into a C array: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P lb/embed.cmake.
# The status page (lb/status_page.html) is built into the binary this way, so that anylb serves
# it with nothing installed beside it.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
	bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from ${IN} by lb/embed.cmake: do not edit. */\n"
	"#include <stddef.h>\n"
	"const char ${NAME}[] = {\n${bytes}0x00};\n"
	"const size_t ${NAME}_len = ${len};\n")
