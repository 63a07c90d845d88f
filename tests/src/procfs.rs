//! What the tests read of other processes in `/proc`.

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces and
/// parentheses): state first, then the parent PID, ...
pub fn stat_fields(stat: &str) -> Vec<&str> {
    let after_name = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    after_name.split_whitespace().collect()
}

/// Processes whose parent is `parent`, with their state letter and command name.
pub fn children_of(parent: i32) -> Vec<(i32, char, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let name = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map_or(String::new(), |(name, _)| name.to_string());
        let fields = stat_fields(&stat);
        let state = fields.first().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.get(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            found.push((pid, state, name));
        }
    }
    found
}
