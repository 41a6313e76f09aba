# Installation and Debian packages: `cpack -G DEB` in the build folder
# makes mctl-master, mctl-minion, mctl (the command line, with deploy) and
# mctl-api (the HTTP API and web console), each with its systemd unit,
# default config and maintainer scripts.
set(deploy ${PROJECT_SOURCE_DIR}/deploy)

install(TARGETS mctl-master RUNTIME DESTINATION bin COMPONENT master)
install(FILES ${deploy}/mctl-master.service DESTINATION /lib/systemd/system COMPONENT master)
install(FILES ${deploy}/master.conf DESTINATION /etc/mctl RENAME master COMPONENT master)
install(FILES ${deploy}/mctl-master.logrotate DESTINATION /etc/logrotate.d RENAME mctl-master
        COMPONENT master)

install(TARGETS mctl-minion RUNTIME DESTINATION bin COMPONENT minion)
install(FILES ${deploy}/mctl-minion.service DESTINATION /lib/systemd/system COMPONENT minion)
install(FILES ${deploy}/minion.conf DESTINATION /etc/mctl RENAME minion COMPONENT minion)

install(TARGETS mctl mctl-deploy RUNTIME DESTINATION bin COMPONENT cli)
install(FILES ${deploy}/mctl.bash-completion DESTINATION share/bash-completion/completions
        RENAME mctl COMPONENT cli)

install(TARGETS mctl-api RUNTIME DESTINATION bin COMPONENT api)
install(FILES ${deploy}/mctl-api.service DESTINATION /lib/systemd/system COMPONENT api)
install(FILES ${deploy}/mctl-api.pam DESTINATION /etc/pam.d RENAME mctl-api COMPONENT api)

# Manual pages, in each package that has the program or the file.
install(FILES ${deploy}/man/mctl.1 DESTINATION share/man/man1 COMPONENT cli)
install(FILES ${deploy}/man/mctl-deploy.8 DESTINATION share/man/man8 COMPONENT cli)
install(FILES ${deploy}/man/mctl-master.8 DESTINATION share/man/man8 COMPONENT master)
install(FILES ${deploy}/man/mctl-master.5 DESTINATION share/man/man5 COMPONENT master)
install(FILES ${deploy}/man/mctl-minion.8 DESTINATION share/man/man8 COMPONENT minion)
install(FILES ${deploy}/man/mctl-minion.5 DESTINATION share/man/man5 COMPONENT minion)
install(FILES ${deploy}/man/mctl-api.8 DESTINATION share/man/man8 COMPONENT api)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mctl)
set(CPACK_PACKAGE_VENDOR mctl)
set(CPACK_PACKAGE_CONTACT "mctl maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "remote execution for fleets of hosts")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL master minion cli api)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)

set(CPACK_DEBIAN_MASTER_PACKAGE_NAME mctl-master)
set(CPACK_DEBIAN_MASTER_PACKAGE_DEPENDS adduser)
set(CPACK_COMPONENT_MASTER_DESCRIPTION
    "mctl master: publishes signed jobs to minions and gathers their returns\nKeeps minion keys and the job history; runs as the system user mctl.")
set(CPACK_DEBIAN_MASTER_PACKAGE_CONTROL_EXTRA
    "${deploy}/debian/master/postinst;${deploy}/debian/master/prerm;${deploy}/debian/master/postrm;${deploy}/debian/master/conffiles")

set(CPACK_DEBIAN_MINION_PACKAGE_NAME mctl-minion)
set(CPACK_COMPONENT_MINION_DESCRIPTION
    "mctl minion: runs the jobs the mctl master signs\nVerifies every job, runs it in a pool of worker processes, and spools\nreturns while the master is away.")
set(CPACK_DEBIAN_MINION_PACKAGE_CONTROL_EXTRA
    "${deploy}/debian/minion/postinst;${deploy}/debian/minion/prerm;${deploy}/debian/minion/postrm;${deploy}/debian/minion/conffiles")

set(CPACK_DEBIAN_CLI_PACKAGE_NAME mctl)
set(CPACK_COMPONENT_CLI_DESCRIPTION
    "mctl command line: run jobs on minions, manage keys, job history, deploy\nIncludes mctl deploy, which installs minions over SSH.")

set(CPACK_DEBIAN_API_PACKAGE_NAME mctl-api)
set(CPACK_DEBIAN_API_PACKAGE_DEPENDS "mctl-master")
set(CPACK_COMPONENT_API_DESCRIPTION
    "mctl API and web console: job history and the fleet in a browser\nHTTPS on port 8000, logins checked with PAM, every request under the\nmaster's publisher_acl.")
set(CPACK_DEBIAN_API_PACKAGE_CONTROL_EXTRA
    "${deploy}/debian/api/postinst;${deploy}/debian/api/prerm;${deploy}/debian/api/postrm;${deploy}/debian/api/conffiles")

include(CPack)
