# Turn a text file into a C source defining `const char ys_schema_sql[]`.
file(READ ${IN} text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n\"" text "${text}")
file(WRITE ${OUT} "/* Generated from results/schema.sql. Do not edit. */\nconst char ys_schema_sql[] =\n\"${text}\";\n")
