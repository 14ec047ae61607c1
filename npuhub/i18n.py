"""Messages npuhub shows to people, each in Chinese and English."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Text", "MESSAGES", "message"]


@dataclass(frozen=True)
class Text:
    """One message in both languages. ``str()`` gives both, Chinese first."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"

    def format(self, **values: object) -> "Text":
        """Fill both templates; a Text value gives each language its own words."""
        zh = {k: v.zh if isinstance(v, Text) else v for k, v in values.items()}
        en = {k: v.en if isinstance(v, Text) else v for k, v in values.items()}
        return Text(self.zh.format(**zh), self.en.format(**en))


# Keys are the machine-readable reasons used in errors and metrics.
MESSAGES: dict[str, Text] = {
    "flavor_unknown": Text(
        "没有名为“{flavor}”的规格。请在启动页面上从列表中选择一个规格。",
        "There is no flavor called '{flavor}'. Pick one from the list on the start page.",
    ),
    "flavor_not_allowed": Text(
        "您所在的组不能使用规格“{flavor}”。可用的规格：{allowed}。",
        "Your groups may not use the flavor '{flavor}'. Flavors you may use: {allowed}.",
    ),
    "flavor_limited": Text(
        "这个工作坊只允许使用规格 {allowed}，不能使用“{flavor}”。",
        "This workshop allows only {allowed}, not the flavor '{flavor}'.",
    ),
    "flavor_missing": Text(
        "请选择一个规格。",
        "Please pick a flavor.",
    ),
    "options_invalid": Text(
        "启动选项无效：{detail}",
        "Invalid start options: {detail}",
    ),
    "pool_full": Text(
        "资源池现在放不下“{flavor}”。请稍后再试，或选择更小的规格。",
        "There is no room for '{flavor}' in the pool right now. Try again later, or pick a smaller flavor.",
    ),
    "pool_no_model": Text(
        "资源池中没有 {model} 设备，请联系管理员。",
        "The pool has no {model} devices; please tell the centre's staff.",
    ),
    "share_limit": Text(
        "您最多可同时占用 {limit} 张卡，已占用 {held} 张，本次申请 {share} 张。请先停止其他服务器。",
        "You may hold at most {limit} device(s) at once; you hold {held} and asked for {share}. Stop another server first.",
    ),
    "granted": Text(
        "已分配 {share} {model}（{node}，卡 {devices}）。",
        "Granted {share} {model} ({node}, device {devices}).",
    ),
    "service_unreachable": Text(
        "暂时无法连接资源调度服务，请稍后再试。",
        "The npuhub scheduling service cannot be reached right now; please try again in a minute.",
    ),
    "service_not_configured": Text(
        "npuhub 尚未配置资源调度服务的地址，请联系中心工作人员。",
        "The npuhub scheduling service is not configured for this hub (c.NPUSpawnerMixin.admission_url is "
        "empty); please tell the centre's staff.",
    ),
    "queue_timeout": Text(
        "排队时间过长，已放弃本次申请。请稍后再试，或选择更小的规格。",
        "You waited too long in the queue, so the request was given up. Try again later, or pick a smaller flavor.",
    ),
    # -- a server's pod in a cluster (spawners/pod_watch.py): each stage, and ONE sentence when it fails -----
    "pod_created": Text("正在为您的服务器申请运行位置……", "Finding a place in the cluster for your server..."),
    "pod_scheduled": Text("服务器已分配到节点 {node}。", "Your server has a place on node {node}."),
    "pod_pulling": Text("正在下载镜像 {image}（首次使用可能需要几分钟）……",
                        "Downloading the image {image} (the first time can take a few minutes)..."),
    "pod_starting": Text("镜像已就绪，正在启动容器……", "The image is ready; starting the container..."),
    "pod_unschedulable_taint": Text(
        "集群中能运行该规格的节点暂不接受新的服务器（节点被标记为维护或专用）。您的资源已释放，请稍后再试或告知中心工作人员。",
        "The nodes that can run this flavor are not taking new servers right now (marked for maintenance or "
        "reserved). Your slice was given back; try again later, or tell the centre's staff."),
    "pod_unschedulable_room": Text(
        "集群中没有节点能放下该服务器（{resources} 不足）。您的资源已释放，请稍后再试或选择更小的规格。",
        "No node in the cluster has room for this server (not enough {resources}). Your slice was given back; "
        "try again later, or pick a smaller flavor."),
    "pod_unschedulable_match": Text(
        "集群中没有与该规格匹配的节点。您的资源已释放，请告知中心工作人员。",
        "No node in the cluster matches this flavor. Your slice was given back; please tell the centre's staff."),
    "pod_unschedulable": Text(
        "集群暂时无法为该服务器安排节点。您的资源已释放，请稍后再试或告知中心工作人员。",
        "The cluster could not find a node for this server. Your slice was given back; try again later, "
        "or tell the centre's staff."),
    "pod_image_failed": Text(
        "无法下载镜像 {image}（镜像名有误、不存在或无权访问）。您的资源已释放，请告知中心工作人员。",
        "The image {image} could not be downloaded (a wrong name, missing, or not allowed). Your slice was "
        "given back; please tell the centre's staff."),
    "pod_exited": Text(
        "服务器启动后随即退出（退出码 {code}）。您的资源已释放，请重试；若再次发生，请告知中心工作人员。",
        "Your server exited as it started (exit code {code}). Your slice was given back; try again, and tell "
        "the centre's staff if it happens again."),
    "pod_out_of_memory": Text(
        "服务器启动时内存不足而被终止。您的资源已释放，请选择内存更大的规格。",
        "Your server ran out of memory as it started and was stopped. Your slice was given back; pick a "
        "flavor with more memory."),
    "pod_config_failed": Text(
        "服务器的容器配置有误，无法启动。您的资源已释放，请告知中心工作人员。",
        "Your server's container is misconfigured and cannot start. Your slice was given back; please tell "
        "the centre's staff."),
    "pod_quota": Text(
        "集群为本服务划定的资源配额已用完，无法再启动服务器。您的资源已释放，请稍后再试或告知中心工作人员。",
        "The cluster's resource quota for npuhub is used up, so no more servers can start. Your slice was "
        "given back; try again later, or tell the centre's staff."),
    "pod_timeout": Text(
        "服务器在 {duration}内未能启动（最后状态：{stage}）。您的资源已释放，请稍后再试或告知中心工作人员。",
        "Your server did not start within {duration} (last seen: {stage}). Your slice was given back; "
        "try again later, or tell the centre's staff."),
    "pod_api_failed": Text(
        "集群拒绝创建服务器。您的资源已释放，请告知中心工作人员。",
        "The cluster refused to create your server. Your slice was given back; please tell the centre's staff."),
    "stage_waiting": Text("等待安排节点", "waiting for a node"),
    "stage_pulling": Text("正在下载镜像 {image}", "downloading the image {image}"),
    "stage_starting": Text("正在启动容器", "starting the container"),
    # -- idle reclaim (service/reclaim.py): each end says why, and when to the second ------------------
    "idle_warning": Text(
        "您的服务器已空闲 {idle} 分钟以上，且有人在排队等待加速卡：除非您继续使用，它将于 {at}停止并释放资源。"
        "已保存的文件都会保留；浏览器中尚未保存的修改和内核中的变量会丢失，请及时保存。",
        "Your server has been idle for over {idle} minutes and others are waiting for its accelerator: "
        "unless you keep working, it will be stopped at {at}. Saved files are kept; unsaved edits in the "
        "browser and variables in running kernels are lost, so save now.",
    ),
    "window_over_warning": Text(
        "工作坊的时间段已结束：为它启动的这个服务器将于 {at}停止并释放预留的资源。"
        "已保存的文件都会保留；浏览器中尚未保存的修改和内核中的变量会丢失，请及时保存。",
        "The workshop's window is over: this server, started on its reservation, will be stopped at {at}. "
        "Saved files are kept; unsaved edits in the browser and variables in running kernels are lost, so "
        "save now.",
    ),
    "idle_hard_warning": Text(
        "您的服务器已空闲 {idle} 分钟以上，达到本中心空闲服务器的上限（无论是否有人排队）：除非您继续使用，"
        "它将于 {at}停止并释放资源。已保存的文件都会保留；浏览器中尚未保存的修改和内核中的变量会丢失，请及时保存。",
        "Your server has been idle for over {idle} minutes, the centre's limit for idle servers whether or "
        "not anyone waits: unless you keep working, it will be stopped at {at}. Saved files are kept; "
        "unsaved edits in the browser and variables in running kernels are lost, so save now.",
    ),
    "cost_per_hour": Text(
        "每运行 1 小时计 {hours} 卡时",
        "costs {hours} device-hour(s) per hour of use",
    ),
    "no_flavors": Text(
        "您所在的组目前没有可用的规格，请联系老师或管理员。",
        "Your groups have no flavors to start right now; please ask your teacher or the centre's staff.",
    ),
    # -- the admission service (npuhub/service): refusals, queue status, errors of its API --------
    "quota_spent": Text(
        "{whose}算力额度已用完（剩余 {balance} 卡时）。{renews}",
        "{whose} device-hour budget is spent ({balance} device-hours left). {renews}",
    ),
    "quota_renews": Text("额度将于 {at} 恢复，届时可再试。", "It renews at {at}; try again then."),
    "quota_no_renewal": Text(
        "额度不会自动恢复，请联系老师或中心工作人员。",
        "It does not renew by itself; please ask your teacher or the centre's staff.",
    ),
    "budget_warning": Text(
        "{whose}算力额度已用完。此服务器将于 {at} 停止，请及时保存您的工作。",
        "{whose} device-hour budget is spent. This server will be stopped at {at}; save your work now.",
    ),
    "waiting": Text(
        "正在等待 {flavor}：排在第 {position} 位，{eta}。",
        "Waiting for {flavor}: {ordinal} in line, {eta}.",
    ),
    "eta_minutes": Text("预计约 {minutes} 分钟后开始", "about {minutes} minutes"),
    "eta_soon": Text("预计不到一分钟即可开始", "less than a minute"),
    "eta_unknown": Text("暂无预计开始时间", "no estimate yet"),
    "granted_cpu": Text("已分配（仅 CPU）。", "Granted (CPU only)."),
    # -- Dask clusters (npuhub.dask, npuhub/service/clusters.py) ------------------------------------
    "cluster_starting": Text("Dask 集群 {name} 正在启动调度器。", "Dask cluster {name}: starting its scheduler."),
    "cluster_all_running": Text(
        "Dask 集群 {name}：{running} 个 worker 全部运行中（每个 {share}）。",
        "Dask cluster {name}: all {running} workers running ({share} each).",
    ),
    "cluster_partial": Text(
        "Dask 集群 {name}：{wanted} 个 worker 中 {running} 个正在运行，{waiting} 个在等待：排在第 {position} 位，{eta}。",
        "Dask cluster {name}: {running} of {wanted} workers running, {waiting} waiting: {ordinal} in line, {eta}.",
    ),
    "cluster_no_workers": Text("Dask 集群 {name}：调度器运行中，没有 worker。",
                               "Dask cluster {name}: the scheduler runs, with no workers."),
    "cluster_closing": Text("Dask 集群 {name} 正在关闭。", "Dask cluster {name} is closing."),
    "cluster_closed": Text("Dask 集群 {name} 已关闭：{why}", "Dask cluster {name} is closed: {why}"),
    "cluster_why_closed": Text("已由您关闭，资源已释放。", "you closed it; its slices were released."),
    "cluster_why_idle": Text("长时间没有任务，已自动关闭，资源已释放。", "it ran no tasks for too long; its slices were released."),
    "cluster_why_expired": Text("已到最长运行时间，资源已释放。", "it reached its maximum lifetime; its slices were released."),
    "cluster_why_server_stopped": Text("创建它的笔记本服务器已停止，资源已释放。",
                                       "the notebook server it was made from stopped; its slices were released."),
    "cluster_why_service_stopped": Text("npuhub 服务已停止或重启，资源已释放。",
                                        "the npuhub service stopped or restarted; its slices were released."),
    "cluster_why_budget_spent": Text("算力额度已用完，资源已释放。", "the device-hour budget is spent; its slices were released."),
    "cluster_why_scheduler_gone": Text("调度器进程已退出，资源已释放。",
                                       "its scheduler process ended; its slices were released."),
    "cluster_why_no_account": Text("您在这台机器上还没有系统账号：请先启动您的笔记本服务器，再创建 Dask 集群。",
                                   "you have no system account on this machine yet: start your notebook server "
                                   "first, then make the Dask cluster from it."),
    "cluster_why_other": Text("{reason}，资源已释放。", "{reason}; its slices were released."),
    "cluster_unknown": Text("没有编号或名称为 {id} 的 Dask 集群。", "There is no Dask cluster {id}."),
    "cluster_not_yours": Text("这个 Dask 集群属于另一个人，您不能查看或使用它。",
                              "This Dask cluster belongs to someone else; you may not see or use it."),
    "cluster_too_large": Text("一个 Dask 集群最多可以有 {limit} 个 worker（您要了 {workers} 个）。",
                              "A Dask cluster may have at most {limit} workers (you asked for {workers})."),
    "cluster_limit": Text("您已有 {count} 个 Dask 集群在运行，最多 {limit} 个。请先关闭一个（cluster.close()）。",
                          "You already have {count} Dask clusters open, the most allowed is {limit}. Close one first "
                          "(cluster.close())."),
    "cluster_request": Text("这个申请属于 Dask 集群 {cluster}，请缩放或关闭该集群。",
                            "This request belongs to the Dask cluster {cluster}; scale or close the cluster instead."),
    "cluster_dashboard_down": Text("Dask 集群 {id} 的仪表板暂时无法访问（集群正在启动或已关闭）。",
                                   "The dashboard of Dask cluster {id} cannot be reached (the cluster is starting or "
                                   "has closed)."),
    "ended_cluster_closed": Text("所属的 Dask 集群已关闭，资源已释放。", "Its Dask cluster closed; the slice was released."),
    "ended_cluster_scaled_down": Text("所属的 Dask 集群已缩小，资源已释放。",
                                      "Its Dask cluster was scaled down; the slice was released."),
    "reservation_invalid": Text(
        "预留无效：数量至少为 1，结束时间须晚于开始时间。",
        "The reservation is not valid: the count must be at least 1 and the end must come after the start.",
    ),
    "reservation_past": Text("预留的时间窗口已经结束。", "The reservation's window has already ended."),
    "reservation_cpu_only": Text(
        "规格“{flavor}”不含加速卡，无需预留。",
        "The flavor '{flavor}' has no accelerator; there is nothing to reserve.",
    ),
    "reservation_unknown": Text("没有编号为 {id} 的预留。", "There is no reservation {id}."),
    "request_unknown": Text("没有编号为 {id} 的申请。", "There is no request {id}."),
    "request_id_taken": Text("编号 {id} 已被另一个申请使用。", "The id {id} belongs to another request."),
    "reservation_id_taken": Text("编号 {id} 已被另一个预留使用。", "The id {id} belongs to another reservation."),
    "account_unknown": Text("账户 {account} 没有额度。", "The account {account} has no budget."),
    "user_unknown": Text("没有名为“{user}”的用户。", "There is no user called '{user}'."),
    "store_unavailable": Text(
        "准入数据库暂时无法访问，现在不能分配新的资源；正在运行的服务器不受影响。请稍后再试。",
        "The admission database cannot be reached, so nothing can be granted or changed right now; "
        "running servers are not affected. Please try again in a minute.",
    ),
    "hub_unavailable": Text(
        "暂时无法向 JupyterHub 确认您的身份，请稍后再试。",
        "JupyterHub cannot be asked who you are right now; please try again in a minute.",
    ),
    "not_signed_in": Text("请先登录。", "Please sign in first."),
    "permission_denied": Text(
        "您没有权限执行此操作（需要 {scope}）。",
        "You are not allowed to do this (it needs {scope}).",
    ),
    "body_invalid": Text("请求内容无效：{detail}", "The request is not valid: {detail}"),
    "not_found": Text("这里什么也没有：{path}", "There is nothing at {path}."),
    "method_not_allowed": Text("此地址不支持 {method}。", "{method} is not supported here."),
    # -- why a request ended (the spawn page and the lab extension show it) -------------------------
    "server_running": Text(
        "这份资源正被运行中的服务器“{server}”使用。请先在 JupyterHub 主页停止该服务器，停止后资源会自动释放。",
        "This slice is in use by the running server '{server}'. Stop the server from JupyterHub's home page; "
        "its slice is released once it has stopped.",
    ),
    "ended_cancelled": Text("您取消了这次启动。", "You cancelled this start."),
    "ended_cancelled_by": Text(
        "{who}（您的老师或中心工作人员）取消了这次启动。",
        "{who} (your teacher or the centre's staff) cancelled this start.",
    ),
    "ended_stopped": Text("服务器已停止，占用的资源已释放。", "The server stopped and its slice was released."),
    "ended_budget_spent": Text(
        "算力额度已用完，服务器已停止。请保存的文件都还在；额度恢复后可再次启动。",
        "The device-hour budget was spent, so the server was stopped. Your saved files are kept; "
        "start again once the budget renews.",
    ),
    "ended_window_over": Text(
        "工作坊的时间段已结束，为它启动的服务器已停止，预留的资源已释放。已保存的文件都还在。",
        "The workshop's window is over, so the server started for it was stopped and its reserved slice "
        "released. Your saved files are kept.",
    ),
    "ended_quota_spent": Text(
        "您排队期间算力额度已用完，这次启动未获批准。额度恢复后可再次启动。",
        "Your device-hour budget ran out while you waited, so this start was refused. "
        "Start again once the budget renews.",
    ),
    "ended_idle_reclaimed": Text(
        "服务器空闲过久，已停止以便把资源让给排队的人。已保存的文件都还在。",
        "The server was idle too long and was stopped to give its slice to others. Your saved files are kept.",
    ),
    "ended_idle_hard_limit": Text(
        "服务器空闲时间超过了本中心的上限，已停止并释放资源。已保存的文件都还在。",
        "The server was idle longer than the centre allows, so it was stopped and its slice released. "
        "Your saved files are kept.",
    ),
    "ended_server_gone": Text(
        "JupyterHub 已不再运行或启动这个服务器，申请已结束，不再计费。",
        "JupyterHub no longer runs or starts this server, so the request was ended and is no longer charged.",
    ),
    "ended_node_lost": Text(
        "运行您服务器的节点已从集群中移除，服务器随之停止。计费只到发现节点丢失的那一刻；已保存到个人存储的文件都还在，可以重新启动。",
        "The node your server ran on was removed from the cluster, so the server stopped. You are charged only up to "
        "the moment the loss was noticed; files saved to your storage are kept, and you can start again.",
    ),
    "ended_revoked": Text(
        "工作坊已结束或访问码已被撤销，申请已结束。",
        "The workshop is over or its code was revoked, so the request was ended.",
    ),
    "ended_other": Text("申请已结束（{reason}）。", "The request ended ({reason})."),
    "internal_error": Text(
        "npuhub 服务出错了，请告诉中心工作人员（编号 {ref}）。",
        "Something went wrong in the npuhub service; please tell the centre's staff (reference {ref}).",
    ),
    # -- the service's input limits (service/validation.py), data the database refuses (service/engine.py)
    "body_too_large": Text(
        "请求内容太大（最多 {limit}）。",
        "The request is too large (at most {limit}).",
    ),
    "data_refused": Text(
        "数据库拒绝了这些数据，什么也没有改变：{detail}",
        "The database refused this data, and nothing was changed: {detail}",
    ),
    "data_conflict": Text(
        "这与已保存的数据冲突，什么也没有改变：{detail}",
        "This conflicts with what is stored already, and nothing was changed: {detail}",
    ),
    # -- isolation on one machine (spawners/local.py, hubconfig.py)
    "isolation_shared": Text(
        "注意：每个人的服务器都以同一个操作系统用户（{user}）运行，没有隔离：任何人的代码都能读取其他人的文件和令牌。"
        "要为每人使用独立的系统用户，请以 root 运行 npuhub，并使用其他账户可以进入的数据目录。",
        "Warning: every person's server runs as the same OS user ({user}), with no isolation: anyone's code can "
        "read everyone else's files and tokens. To give each person her own system user, run npuhub as root, "
        "with a data directory other accounts can pass through.",
    ),
    "lab_volume_failed": Text(
        "无法为实验室“{lab}”创建共享存储卷，服务器没有启动。请联系管理员。",
        "The shared volume of the lab '{lab}' could not be made, so the server was not started. Please tell the "
        "centre's staff.",
    ),
    "labs_shared": Text(
        "注意：所有服务器都以同一个操作系统用户运行，实验室共享文件夹无法彼此隔离，因此不会创建。"
        "要为每个实验室提供只有其成员能读取的文件夹，请以 root 运行 npuhub（每人独立的系统用户）。",
        "Note: every server runs as the same OS user, so lab folders could not be kept apart, and none are made. "
        "To give each lab a folder only its members can read, run npuhub as root (a system user per person).",
    ),
    "isolation_shared_refused": Text(
        "拒绝启动：登录方式为 {auth}（真实用户），但所有服务器都以同一个操作系统用户运行。"
        "请以 root 运行 npuhub（每人独立的系统用户），或在站点文件中设置 isolation.allow_shared_os_user: true 以接受这一风险。",
        "Refusing to start: sign-in is {auth} (real people), but every server would run as the same OS user. "
        "Run npuhub as root (a system user per person), or set isolation.allow_shared_os_user: true in the site "
        "file to accept that risk.",
    ),
    "isolation_guests_off": Text(
        "工作坊访问码已关闭：所有服务器都以同一个操作系统用户运行（站点文件的 isolation.allow_shared_os_user 可以打开）。",
        "Workshop codes are off: every server runs as the same OS user (the site file's "
        "isolation.allow_shared_os_user turns them on).",
    ),
    "account_refused": Text(
        "无法为您准备系统账号，服务器没有启动。请告诉中心工作人员。",
        "Your system account could not be prepared, so your server was not started. Please tell the centre's staff.",
    ),
}


def message(reason: str, **values: object) -> Text:
    """The message for ``reason``, filled with ``values``."""
    return MESSAGES[reason].format(**values)
