#!/bin/sh
# text2c.sh NAME < file > file.c: a text file as a C string constant.
echo "/* generated; do not edit */"
echo "const char $1[] ="
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/'
echo ";"
