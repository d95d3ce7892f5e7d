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
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
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
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=all;kunos
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="The status of the Ready condition."
// +kubebuilder:printcolumn:name="Capacity",type=integer,JSONPath=`.spec.capacity`,description="How many Tasks the Node runs at once."
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.runningTasks`,description="The number of Tasks running on the Node."
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the Node.
	// +optional
	Spec NodeSpec `json:"spec,omitempty"`
	// Status is the observed state of the Node, written by its agent.
	// +optional
	Status NodeStatus `json:"status,omitempty"`
}

// NodeSpec is the desired state of a Node.
type NodeSpec struct {
	// Capacity is how many Tasks the node runs at once; never negative.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Capacity int32 `json:"capacity,omitempty"`
	// Unschedulable keeps the scheduler from placing new Tasks on the node.
	// +optional
	Unschedulable bool `json:"unschedulable,omitempty"`
}

// NodeStatus is the observed state of a Node, written by its agent.
type NodeStatus struct {
	// Conditions are the observations of the node's state; the agent keeps
	// the Ready condition True while it heartbeats.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// HeartbeatTime is when the node agent last reported in.
	// +optional
	HeartbeatTime *metav1.Time `json:"heartbeatTime,omitempty"`
	// RunningTasks is how many Tasks the node runs now; never negative.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RunningTasks int32 `json:"runningTasks,omitempty"`
}

// NodeList is a list of Nodes.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type NodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Node `json:"items"`
}

// Task is a namespaced unit of work that runs on one Node.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=tk,categories=all;kunos
// +kubebuilder:subresource:status
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:selectablefield:JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,description="The lifecycle phase of the Task."
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`,description="The Node the Task is bound to."
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the Task.
	// +optional
	Spec TaskSpec `json:"spec,omitempty"`
	// Status is the observed state of the Task, written by its node agent.
	// +optional
	Status TaskStatus `json:"status,omitempty"`
}

// TaskSpec is the desired state of a Task.
type TaskSpec struct {
	// Command is the program and its arguments.
	// +optional
	Command []string `json:"command,omitempty"`
	// Image is informational; node agents do not pull images.
	// +optional
	Image string `json:"image,omitempty"`
	// NodeName is set by the scheduler; empty means unscheduled.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// TimeoutSeconds bounds the run time; nil means no limit. At least 1.
	// +kubebuilder:validation:Minimum=1
	// +optional
	TimeoutSeconds *int64 `json:"timeoutSeconds,omitempty"`
}

// TaskStatus is the observed state of a Task, written by its node agent.
type TaskStatus struct {
	// Phase is where the Task is in its lifecycle: Pending, Running,
	// Succeeded or Failed.
	// +optional
	Phase TaskPhase `json:"phase,omitempty"`
	// StartTime is when the node agent started the Task.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the Task succeeded or failed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// ExitCode is the exit code of the command, once it ended.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Message says why the Task is in its phase, for humans.
	// +optional
	Message string `json:"message,omitempty"`
}

// TaskList is a list of Tasks.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Task `json:"items"`
}

// Job runs Tasks from a template until enough of them succeed.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=kj,categories=all;kunos
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Completions",type=integer,JSONPath=`.spec.completions`,description="How many Tasks must succeed."
// +kubebuilder:printcolumn:name="Succeeded",type=integer,JSONPath=`.status.succeeded`,description="The number of succeeded Tasks."
// +kubebuilder:printcolumn:name="Active",type=integer,JSONPath=`.status.active`,description="The number of active Tasks."
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Job struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state of the Job.
	// +optional
	Spec JobSpec `json:"spec,omitempty"`
	// Status is the observed state of the Job, written by the Job controller.
	// +optional
	Status JobStatus `json:"status,omitempty"`
}

// TaskTemplateSpec is the template a Job stamps its Tasks from.
type TaskTemplateSpec struct {
	// Metadata carries the labels and annotations given to each Task.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the spec of each Task.
	// +optional
	Spec TaskSpec `json:"spec,omitempty"`
}

// JobSpec is the desired state of a Job.
type JobSpec struct {
	// Template is what each Task of the Job is created from.
	Template TaskTemplateSpec `json:"template"`
	// Completions is how many Tasks must succeed; nil means 1. Never negative.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Completions *int32 `json:"completions,omitempty"`
	// Parallelism is how many Tasks may be active at once; nil means 1.
	// Never negative.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Parallelism *int32 `json:"parallelism,omitempty"`
	// BackoffLimit is how many failed Tasks are tolerated; nil means 6.
	// Never negative.
	// +kubebuilder:validation:Minimum=0
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
}

// JobStatus is the observed state of a Job, written by the Job controller.
type JobStatus struct {
	// Active is how many of the Job's Tasks are pending or running.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Active int32 `json:"active,omitempty"`
	// Succeeded is how many of the Job's Tasks succeeded.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed is how many of the Job's Tasks failed.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// Conditions are the Job's Complete and Failed conditions, once it
	// finished.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// StartTime is when the Job controller first acted on the Job.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime is when the Job completed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// JobList is a list of Jobs.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
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
