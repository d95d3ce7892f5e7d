package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types and phases used across the kunos.io API.
const (
	// NodeReady is the Node condition that says the node agent heartbeats.
	NodeReady = "Ready"
	// JobComplete is set when a Job reached spec.completions succeeded Tasks.
	JobComplete = "Complete"
	// JobFailed is set when a Job exceeded spec.backoffLimit failed Tasks.
	JobFailed = "Failed"
)

// TaskPhase is the lifecycle phase of a Task.
type TaskPhase string

// The phases a Task goes through.
const (
	TaskPending   TaskPhase = "Pending"
	TaskRunning   TaskPhase = "Running"
	TaskSucceeded TaskPhase = "Succeeded"
	TaskFailed    TaskPhase = "Failed"
)

// Node is a cluster-scoped worker that runs Tasks.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeSpec   `json:"spec,omitempty"`
	Status NodeStatus `json:"status,omitempty"`
}

// NodeSpec is the desired state of a Node.
type NodeSpec struct {
	// Capacity is how many Tasks the node runs at once.
	Capacity int32 `json:"capacity,omitempty"`
	// Unschedulable keeps the scheduler from placing new Tasks on the node.
	Unschedulable bool `json:"unschedulable,omitempty"`
}

// NodeStatus is the observed state of a Node, written by its agent.
type NodeStatus struct {
	Conditions    []metav1.Condition `json:"conditions,omitempty"`
	HeartbeatTime *metav1.Time       `json:"heartbeatTime,omitempty"`
	RunningTasks  int32              `json:"runningTasks,omitempty"`
}

// NodeList is a list of Nodes.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type NodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Node `json:"items"`
}

// Task is a namespaced unit of work that runs on one Node.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TaskSpec   `json:"spec,omitempty"`
	Status TaskStatus `json:"status,omitempty"`
}

// TaskSpec is the desired state of a Task.
type TaskSpec struct {
	// Command is the program and its arguments.
	Command []string `json:"command,omitempty"`
	// Image is informational; node agents do not pull images.
	Image string `json:"image,omitempty"`
	// NodeName is set by the scheduler; empty means unscheduled.
	NodeName string `json:"nodeName,omitempty"`
	// TimeoutSeconds bounds the run time; nil means no limit.
	TimeoutSeconds *int64 `json:"timeoutSeconds,omitempty"`
}

// TaskStatus is the observed state of a Task, written by its node agent.
type TaskStatus struct {
	Phase          TaskPhase    `json:"phase,omitempty"`
	StartTime      *metav1.Time `json:"startTime,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	ExitCode       *int32       `json:"exitCode,omitempty"`
	Message        string       `json:"message,omitempty"`
}

// TaskList is a list of Tasks.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Task `json:"items"`
}

// Job runs Tasks from a template until enough of them succeed.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Job struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   JobSpec   `json:"spec,omitempty"`
	Status JobStatus `json:"status,omitempty"`
}

// TaskTemplateSpec is the template a Job stamps its Tasks from.
type TaskTemplateSpec struct {
	// Metadata carries the labels and annotations given to each Task.
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TaskSpec `json:"spec,omitempty"`
}

// JobSpec is the desired state of a Job.
type JobSpec struct {
	Template TaskTemplateSpec `json:"template"`
	// Completions is how many Tasks must succeed; nil means 1.
	Completions *int32 `json:"completions,omitempty"`
	// Parallelism is how many Tasks may be active at once; nil means 1.
	Parallelism *int32 `json:"parallelism,omitempty"`
	// BackoffLimit is how many failed Tasks are tolerated; nil means 6.
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
}

// JobStatus is the observed state of a Job, written by the Job controller.
type JobStatus struct {
	Active         int32              `json:"active,omitempty"`
	Succeeded      int32              `json:"succeeded,omitempty"`
	Failed         int32              `json:"failed,omitempty"`
	Conditions     []metav1.Condition `json:"conditions,omitempty"`
	StartTime      *metav1.Time       `json:"startTime,omitempty"`
	CompletionTime *metav1.Time       `json:"completionTime,omitempty"`
}

// JobList is a list of Jobs.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type JobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Job `json:"items"`
}

// Defaults applied when a JobSpec field is nil.
const (
	DefaultCompletions  int32 = 1
	DefaultParallelism  int32 = 1
	DefaultBackoffLimit int32 = 6
)

// CompletionsOrDefault returns spec.completions, or its default.
func (s *JobSpec) CompletionsOrDefault() int32 {
	return int32OrDefault(s.Completions, DefaultCompletions)
}

// ParallelismOrDefault returns spec.parallelism, or its default.
func (s *JobSpec) ParallelismOrDefault() int32 {
	return int32OrDefault(s.Parallelism, DefaultParallelism)
}

// BackoffLimitOrDefault returns spec.backoffLimit, or its default.
func (s *JobSpec) BackoffLimitOrDefault() int32 {
	return int32OrDefault(s.BackoffLimit, DefaultBackoffLimit)
}

func int32OrDefault(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
