# Writes OUT, a C file defining one NUL-terminated char array per entry of
# FILES (NAME=PATH|...), holding that file's bytes.
set(text "/* Generated from the files named below; do not edit. */\n")
string(REPLACE "|" ";" entries "${FILES}")
foreach(entry ${entries})
    string(REPLACE "=" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 path)
    file(READ "${path}" hex HEX)
    string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
    string(APPEND text "/* ${path} */\nconst char ${name}[] = {${bytes}0x00};\n")
endforeach()
file(WRITE "${OUT}" "${text}")
