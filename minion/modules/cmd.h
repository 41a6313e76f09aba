/*  cmd - what the cmd module shares with its tests. */
#ifndef MC_CMD_H
#define MC_CMD_H

/* The argv a plain command runs as without a shell, or NULL when it
   needs the shell (see cmd.c); free with cmd_free_words. */
char **cmd_plain_words(const char *cmd);
void cmd_free_words(char **argv);

#endif
