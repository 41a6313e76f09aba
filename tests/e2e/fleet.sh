# fleet.sh - hosts for deploy tests, sourced after lib.sh (or on its own by
# bench/deploy): network namespaces on one bridge, each running a real
# sshd from Debian's openssh-server in its own mount namespace, where what
# deploy (or dpkg) writes (/etc, /usr, /var/lib, /var/log, /run, /root,
# /tmp) is private to that host (overlays and tmpfs over the real folders).
#
#   fleet_up N         the master's namespace and hosts h1..hN
#   fleet_ns NAME      the namespace of host NAME (or "master")
#   fleet_ip NAME      its address
#   fleet_in NAME CMD  run CMD inside host NAME (its network and mounts)
#   fleet_down         stop every process in the fleet, remove it all
#
# Root logs in with the key $FLEET/id_ed25519 or the password
# $FLEET_PASSWORD; so does the user "deployer" (key only), who may not use
# sudo, and the user "sudoer" (password only), who may, with that password;
# "nopass" (password "touch /tmp/mctl-pwned") may use sudo without one.
# Nothing here touches the real /etc or /root.

FLEET_PASSWORD=fleet-$RANDOM$RANDOM
FLEET_TAG=mc$((RANDOM % 90000 + 10000))
FLEET_NET=10.$((RANDOM % 200 + 20)).$((RANDOM % 250))
FLEET_HOSTS=()
declare -A FLEET_SSHD=() FLEET_PORT=()

fleet_ns() { echo "$FLEET_TAG-$1"; }

fleet_ip() {
    if [ "$1" = master ]; then echo "$FLEET_NET.1"; else echo "$FLEET_NET.$((${1#h} + 10))"; fi
}

# Every command a fleet host runs goes through its sshd's namespaces.
fleet_in() {
    local name=$1; shift
    nsenter -t "${FLEET_SSHD[$name]}" -m -n "$@"
}

fleet_link() { # fleet_link NAME: a namespace wired to the bridge
    local name=$1 ns veth
    ns=$(fleet_ns "$name")
    veth=$FLEET_TAG${name#h}
    [ "$name" = master ] && veth=${FLEET_TAG}m
    ip netns add "$ns" || return 1
    ip link add "$veth" type veth peer name eth0 netns "$ns" || return 1
    ip link set "$veth" master "$FLEET_TAG" up || return 1
    ip -n "$ns" addr add "$(fleet_ip "$name")/24" dev eth0 || return 1
    ip -n "$ns" link set eth0 up || return 1
    ip -n "$ns" link set lo up
}

# The host's private folders, then sshd in the foreground (it stays the
# namespace's anchor: fleet_in enters through its pid).
fleet_host_script() {
    cat <<'SCRIPT'
set -e
h=$1 usr_local_kib=$2
mount -t tmpfs -o size=64m,mode=0700 tmpfs "$h/mnt"
for d in etc var/lib var/log usr; do
    u=$h/mnt/$(echo "$d" | tr / _)
    mkdir -p "$u.up" "$u.work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$u.up,workdir=$u.work" "/$d"
done
if [ "$usr_local_kib" != 0 ]; then
    mount -t tmpfs -o "size=${usr_local_kib}k" tmpfs /usr/local
fi
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0755 /run/sshd
mount -t tmpfs -o mode=0700 tmpfs /root
mkdir -m 0700 /root/.ssh
cp "$FLEET/id_ed25519.pub" /root/.ssh/authorized_keys
echo "root:$FLEET_PASSWORD" | chpasswd
# A plain user without sudo rights, for deploys that need sudo.
useradd -M -d /run/deployer -s /bin/sh -p '*' deployer
mkdir -m 0700 /run/deployer /run/deployer/.ssh
cp "$FLEET/id_ed25519.pub" /run/deployer/.ssh/authorized_keys
chown -R deployer:deployer /run/deployer
# A user who may use sudo, with the password.
useradd -M -d /run/sudoer -s /bin/sh sudoer
echo "sudoer:$FLEET_PASSWORD" | chpasswd
mkdir -m 0700 /run/sudoer && chown sudoer /run/sudoer
# And one whose sudo asks for no password, with a password that is a
# command: were it ever run, /tmp/mctl-pwned would appear.
useradd -M -d /run/nopass -s /bin/sh nopass
echo "nopass:touch /tmp/mctl-pwned" | chpasswd
if [ -d /etc/sudoers.d ]; then
    echo "sudoer ALL=(ALL) ALL" > /etc/sudoers.d/sudoer
    echo "nopass ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/nopass
    chmod 0440 /etc/sudoers.d/sudoer /etc/sudoers.d/nopass
fi
mount -t tmpfs -o mode=1777 tmpfs /tmp
exec /usr/sbin/sshd -D -e -f "$FLEET/$4" -h "$h/hostkey" \
    -o "ListenAddress=$3" -o "Port=$5" -o PidFile=none
SCRIPT
}

fleet_sshd_up() { # the host answers on its ssh port
    local ip
    ip=$(fleet_ip "$1")
    ip netns exec "$(fleet_ns master)" bash -c "exec 3<>/dev/tcp/$ip/${FLEET_PORT[$1]:-22}" 2>/dev/null
}

# fleet_host NAME [USR_LOCAL_KIB [KIND]]: start a host; with a size, its
# /usr/local is a tmpfs that small (a host without space; 0: no limit).
# KIND: nosftp (its sshd offers no SFTP subsystem), or port=N (sshd on
# port N).
fleet_host() {
    local name=$1 size=${2:-0} kind=${3:-} h=$FLEET/$1 conf=sshd_config port=22
    case $kind in
    nosftp) conf=sshd_config_nosftp ;;
    port=*) port=${kind#port=} ;;
    esac
    FLEET_PORT[$name]=$port
    mkdir -p "$h/mnt"
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$h/hostkey" || return 1
    fleet_link "$name" || return 1
    fleet_host_script > "$h/setup.sh"
    FLEET=$FLEET FLEET_PASSWORD=$FLEET_PASSWORD \
        ip netns exec "$(fleet_ns "$name")" unshare --mount --propagation private \
        sh "$h/setup.sh" "$h" "$size" "$(fleet_ip "$name")" "$conf" "$port" > "$h/sshd.log" 2>&1 &
    FLEET_SSHD[$name]=$!
    disown "$!" # fleet_down waits for it; no job report when it is killed
    FLEET_HOSTS+=("$name")
}

# fleet_up N [NAME=KIND ...]: hosts h1..hN, the named ones of that kind
# (fleet_host's).
fleet_up() {
    local n=$1 i kind arg
    shift
    FLEET=$(mktemp -d /var/tmp/mctl-fleet.XXXXXX)
    chmod 755 "$FLEET"
    ssh-keygen -q -t ed25519 -N '' -C fleet -f "$FLEET/id_ed25519" || return 1
    cat > "$FLEET/sshd_config" <<CONF
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
StrictModes no
PrintMotd no
MaxStartups 100
Subsystem sftp internal-sftp
CONF
    grep -v "^Subsystem" "$FLEET/sshd_config" > "$FLEET/sshd_config_nosftp"
    ip link add "$FLEET_TAG" type bridge || return 1
    ip link set "$FLEET_TAG" up
    fleet_link master || return 1
    for i in $(seq 1 "$n"); do
        kind=
        for arg in "$@"; do [ "${arg%%=*}" = "h$i" ] && kind=${arg#*=}; done
        fleet_host "h$i" 0 "$kind" || return 1
    done
    for i in $(seq 1 "$n"); do wait_until 20 fleet_sshd_up "h$i" || return 1; done
}

fleet_ns_empty() { [ -z "$(ip netns pids "$1" 2>/dev/null)" ]; }

fleet_down() {
    local name ns pid
    [ -n "${FLEET:-}" ] || return 0
    for name in master "${FLEET_HOSTS[@]}"; do
        ns=$(fleet_ns "$name")
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for name in master "${FLEET_HOSTS[@]}"; do
        wait_until 10 fleet_ns_empty "$(fleet_ns "$name")"
    done
    for name in master "${FLEET_HOSTS[@]}"; do ip netns del "$(fleet_ns "$name")" 2>/dev/null; done
    ip link del "$FLEET_TAG" 2>/dev/null
    rm -rf "$FLEET"
    FLEET=
}
