/* placeholder until its author lands it */
typedef int vkg__placeholder;
